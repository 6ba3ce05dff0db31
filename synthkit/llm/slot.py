"""The checkpoint slot: at most one model in memory, swapped one checkpoint at a time.

Multi-checkpoint sampling (SCoder) loads several models in turn; the slot makes
sure the previous one is closed (its memory freed) before the next one loads::

    slot = ModelSlot(lambda model: make_llm(config, model))
    slot.open("/ckpt/a")   # loads a
    slot.open("/ckpt/b")   # closes a, loads b
    slot.close()

``DEFAULT`` names "the config's own model" (the factory gets ``None``).
"""

from __future__ import annotations

import logging
from typing import Callable

from synthkit.llm.base import LLM

log = logging.getLogger(__name__)

DEFAULT = "default"  # the pass name meaning "the llm config's own model"


class ModelSlot:
    """Holds at most one LLM built by ``make(model_or_None)``; opening another closes the one before."""

    def __init__(self, make: Callable[[str | None], LLM]) -> None:
        self.make = make
        self.llm: LLM | None = None
        self.name: str | None = None

    def open(self, name: str) -> LLM:
        self.close()
        self.llm = self.make(None if name == DEFAULT else name)
        self.name = name
        log.info("loaded model %s", self.llm.model_id)
        return self.llm

    def close(self) -> None:
        if self.llm is not None:
            self.llm.close()
        self.llm, self.name = None, None

"""Multi-checkpoint sampling, one helper for every sampling stage (SCoder, GiFT, RFT).

A stage that samples holds a ``CheckpointSampler`` as ``self.sampler``; the ``Stage``
base class routes ``passes()``, ``open_pass``, ``close_pass`` and ``teardown`` to it,
so one checkpoint is loaded per pass and a killed run resumes inside its checkpoint.

- **passes**: the stage's ``checkpoints:`` (a path, a hub id, ``embedded``), else
  ``default`` (the stage's ``llm.model``); ``use_last_checkpoints: M`` takes the last
  M checkpoints earlier rounds registered.
- **model**: ``ctx.make_llm`` on the stage's resolved LLM config.
- **seeds**: ``seed(batch)`` = ``derive_seed(pipeline seed, stage index, checkpoint
  index, first row id)``, so a resumed run draws the same samples.
- **provenance**: ``meta(row, ...)`` writes ``stage``, ``model``, ``checkpoint`` and
  ``checkpoint_index``.
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

from pydantic import Field, field_validator

from synthkit.core.record import Row
from synthkit.core.stage import LLMStageConfig, StageContext
from synthkit.llm.base import LLM
from synthkit.llm.slot import DEFAULT, ModelSlot


def derive_seed(*parts: object) -> int:
    """A 31-bit seed that depends only on ``parts`` (stable across runs and machines)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


class SamplingConfig(LLMStageConfig):
    """Config fields every sampling stage shares: which checkpoints to sample from."""

    checkpoints: list[str] = Field(default_factory=list, description=(
        "models to sample from, in turn; empty = the llm's"))
    use_last_checkpoints: int = Field(0, ge=0, description=(
        "iterative runs: sample from the last M trained checkpoints"))

    @field_validator("checkpoints")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"checkpoints must be unique (they name the passes): {v}")
        return v


def checkpoint_names(configured: Sequence[str] | None, ctx: StageContext, use_last: int = 0) -> list[str]:
    """The models to sample from, in order. Checkpoints registered by earlier
    rounds of an iterative run (``ctx.checkpoints``) win when ``use_last`` > 0."""
    if use_last and ctx.checkpoints:
        return list(ctx.checkpoints[-use_last:])
    return list(configured) if configured else [DEFAULT]


class CheckpointSampler:
    """The checkpoints a stage samples from, the one loaded now, and its seeds and meta."""

    def __init__(self, stage_name: str, ctx: StageContext, checkpoints: Sequence[str] = (),
                 use_last: int = 0) -> None:
        self.stage_name, self.ctx = stage_name, ctx
        self.names = checkpoint_names(checkpoints, ctx, use_last)
        self.slot = ModelSlot(lambda model: ctx.make_llm(model=model))
        self.index = 0                   # position of the open checkpoint in ``names``

    def passes(self) -> list[str]:
        return list(self.names)

    def open(self, name: str) -> LLM:
        self.index = self.names.index(name)
        return self.slot.open(name)

    def close(self) -> None:
        self.slot.close()

    @property
    def llm(self) -> LLM:
        """The open model; outside the runner's pass protocol (tests, notebooks) the first checkpoint."""
        return self.slot.llm if self.slot.llm is not None else self.open(self.names[0])

    @property
    def checkpoint(self) -> str:
        """What ``meta.checkpoint`` records: the pass name, or the configured model for ``default``."""
        name = self.slot.name or self.names[self.index]
        if name != DEFAULT:
            return name
        return self.ctx.llm_config.model if self.ctx.llm_config is not None else self.llm.model_id

    def seed(self, batch: Sequence[Row]) -> int:
        return derive_seed(self.ctx.seed, self.ctx.index, self.index, batch[0]["id"] if batch else "")

    def meta(self, row: Row, **extra: Any) -> dict[str, Any]:
        """The row's meta with this sample's provenance laid over it."""
        return {**(row.get("meta") or {}), "stage": self.stage_name, "model": self.llm.model_id,
                "checkpoint": self.checkpoint, "checkpoint_index": self.index, **extra}

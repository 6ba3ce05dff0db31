"""What enters a fingerprint: the rule that decides whether finished work is redone.

``fingerprint(obj)`` is a 20-hex-digit sha256 of ``obj`` as sorted JSON (str for
anything JSON cannot hold). ``row_neutral(stage_config)`` drops from a stage's
config dump what cannot change its rows, so tuning it never redoes a stage:
``workers`` at any depth, and the LLM ``SPEED_KEYS`` of an ``llm:`` override
(``LLMConfig.fingerprint`` leaves them out of the model's part the same way).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from synthkit.llm.base import SPEED_KEYS


def fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


def row_neutral(stage_config: dict[str, Any]) -> dict[str, Any]:
    """A stage config's dump without what cannot change its rows: ``workers``
    (processes or sandbox slots, at any depth) and, in an ``llm`` override, the
    ``SPEED_KEYS``. (A stage's own ``timeout_s`` stays: a program that times out
    at 5 s may pass at 10 s.)"""
    out = {}
    for key, value in stage_config.items():
        if key == "workers":
            continue
        if key == "llm" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in SPEED_KEYS}
        elif isinstance(value, dict):
            value = row_neutral(value)
        out[key] = value
    return out

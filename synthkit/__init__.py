"""synthkit: build instruction datasets for code models.

``import synthkit`` is light (no torch); the names below load on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "Pipeline": "synthkit.core.pipeline",
    "Stage": "synthkit.core.stage",
    "WholeStage": "synthkit.core.stage",
    "StageConfig": "synthkit.core.stage",
    "Rejected": "synthkit.core.record",
    "register_stage": "synthkit.core.registry",
    "LLMConfig": "synthkit.llm.base",
    "SamplingParams": "synthkit.llm.base",
    "make_llm": "synthkit.llm.factory",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'synthkit' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]

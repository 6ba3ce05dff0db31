"""Gradient influence (LESS, Xia et al. 2024): which training rows help a validation set most.

1. Warm-up: a short LoRA training on a random fraction of the pool (``warmup.py``).
2. Per checkpoint, each training row's LoRA gradient of its assistant-token loss
   (``grads.py``), Adam-preconditioned with the checkpoint's optimizer state (no
   bias correction); validation rows get plain gradients.
3. A random projection to ``dim`` with traker's projectors (``project.py``), then
   L2 normalisation.
4. ``score`` (``score.py``): ``sum_c w_c * cos`` with ``w`` the checkpoints' learning
   rates summing to 1, averaged per validation subtask, max over subtasks.
Features are cached, memory-mapped, by (checkpoint, kind, projector, seed, dim, row
tokens) (``store.py``). Importing this package imports no torch, peft or traker; a
missing ``traker`` fails with ``pip install 'traker>=0.3'``. Details: docs/methods/less.md.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "score": "synthkit.influence.score", "InfluenceScores": "synthkit.influence.score",
    "FeatureSpec": "synthkit.influence.features", "featurize": "synthkit.influence.features",
    "featurize_checkpoints": "synthkit.influence.features", "score_rows": "synthkit.influence.features",
    "adam_precondition": "synthkit.influence.grads", "per_example_grads": "synthkit.influence.grads",
    "loop_grads": "synthkit.influence.grads",
    "load_lora": "synthkit.influence.checkpoint", "load_adam": "synthkit.influence.checkpoint",
    "resolve_checkpoints": "synthkit.influence.checkpoint",
    "make_projector": "synthkit.influence.project",
    "FeatureStore": "synthkit.influence.store",
    "WarmupSpec": "synthkit.influence.warmup", "warmup": "synthkit.influence.warmup",
    "ValidationSpec": "synthkit.influence.data", "load_validation": "synthkit.influence.data",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'synthkit.influence' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)

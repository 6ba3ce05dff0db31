"""Gradient influence (LESS, Xia et al. 2024): which training rows help a validation set most.

The recipe, as this package computes it:

1. Warm-up: a short LoRA training on a random fraction of the pool, a checkpoint
   per epoch (``warmup.py`` calls the bundled trainer; or bring checkpoints).
2. For each checkpoint c, each training row's gradient g of its loss (the mean
   cross-entropy over its assistant tokens, the trainer's own mask) with respect
   to the LoRA parameters, computed batched with ``torch.func`` (``grads.py``),
   then Adam-preconditioned with that checkpoint's optimizer state
   (``exp_avg`` m, ``exp_avg_sq`` v, ``betas``, ``eps`` from ``optimizer.pt``),
   with no bias correction::

       m' = b1*m + (1-b1)*g      v' = b2*v + (1-b2)*g**2      G = m' / sqrt(v' + eps)

   Validation rows get plain gradients.
3. A random projection to ``dim`` dimensions with traker's projectors
   (``project.py``: ``BasicProjector`` in float32, or ``CudaProjector`` when
   ``fast_jl`` and a GPU are there), then L2 normalisation.
4. ``score(train_features, val_features, weights, subtasks)`` (``score.py``):
   ``sum_c w_c * cos(G_c[row], grad_c[val])`` with ``w`` the checkpoints'
   learning rates renormalised to sum to 1, averaged over each validation
   subtask's examples, then the max over subtasks.

Features are cached under the work dir, memory-mapped, keyed by (checkpoint,
feature kind, projector, seed, dim, hash of the row's tokens) (``store.py``):
scoring the same pool against a new validation set computes no new training
gradients, and a killed featurisation resumes at the last saved batch.

Everything heavy (torch, peft, traker) is imported where it is used; importing
this package imports none of them. A missing ``traker`` fails with the pip
command: ``pip install 'traker>=0.3'`` (the ``trak`` name on PyPI is an
unrelated package).

    from synthkit.influence import featurize_checkpoints, score
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

"""LESS scoring: checkpoint-weighted cosine, mean over each validation subtask, max over subtasks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Sequence

CHUNK_ROWS = 4096  # training rows read from the feature cache at a time


@dataclass
class InfluenceScores:
    score: Any                 # float64 [N]: the influence of each training row
    best: Any                  # int64 [N]: index into ``subtasks`` of the subtask that gave the max
    per_subtask: Any           # float64 [N, S]: the weighted mean cosine per subtask
    subtasks: list[Hashable]   # subtask names, sorted
    weights: Any               # float64 [C]: the checkpoint weights used (sum 1)

    def best_names(self) -> list[Hashable]:
        return [self.subtasks[i] for i in self.best.tolist()]


def score(train_features: Sequence[Any], val_features: Sequence[Any], weights: Sequence[float],
          subtasks: Sequence[Hashable]) -> InfluenceScores:
    """The LESS influence of N training rows on M validation examples.

    ``train_features[c]`` is an ``[N, d]`` array (or anything sliceable by rows that
    numpy reads, such as a ``FeatureView``) of the training rows' features at
    checkpoint c: Adam-preconditioned, projected gradients. ``val_features[c]``
    is ``[M, d]``: plain projected gradients of the validation examples at the
    same checkpoint. ``weights[c]`` is checkpoint c's weight (LESS: its learning
    rate); they are renormalised to sum to 1, so only their ratios matter.
    ``subtasks[j]`` names validation example j's subtask.

    For training row i::

        s_i(j)       = sum_c w_c * cos(train_c[i], val_c[j])
        per_subtask  = mean over the j of each subtask of s_i(j)
        score[i]     = max over subtasks of per_subtask[i]

    (``best[i]`` is the subtask of that max, the first in sorted name order on a
    tie.) Features are L2-normalised here, so any scale works; a zero vector has
    cosine 0 with everything. The mean is taken of cosines, not of gradients
    before the cosine. Cost: one ``[N, d] x [d, S]`` product per checkpoint,
    since the mean of dot products is the dot product with the mean; training
    features are read ``CHUNK_ROWS`` rows at a time.
    """
    import numpy as np

    n_ckpt = len(train_features)
    if n_ckpt == 0 or len(val_features) != n_ckpt or len(weights) != n_ckpt:
        raise ValueError(f"{len(train_features)} train feature sets, {len(val_features)} validation sets and "
                         f"{len(weights)} weights: need one of each per checkpoint, at least one")
    w = np.asarray(weights, dtype=np.float64)
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"checkpoint weights must be finite, >= 0 and not all 0, got {w.tolist()}")
    w = w / w.sum()
    if len(subtasks) == 0:
        raise ValueError("no validation examples to score against")
    names = sorted(set(subtasks), key=lambda s: (str(type(s)), s))
    col = {s: i for i, s in enumerate(names)}
    member = np.zeros((len(subtasks), len(names)))
    member[np.arange(len(subtasks)), [col[s] for s in subtasks]] = 1.0
    member /= member.sum(axis=0, keepdims=True)  # each subtask's column averages its examples
    means = []
    for c in range(n_ckpt):
        v = _unit(np.asarray(val_features[c], dtype=np.float64))
        if v.shape[0] != len(subtasks):
            raise ValueError(f"checkpoint {c}: {v.shape[0]} validation features but {len(subtasks)} subtask labels")
        means.append(member.T @ v)  # [S, d]
    n = len(train_features[0])
    if any(len(t) != n for t in train_features):
        raise ValueError("every checkpoint needs features for the same training rows")
    per = np.zeros((n, len(names)))
    for start in range(0, n, CHUNK_ROWS):
        for c in range(n_ckpt):
            t = _unit(np.asarray(train_features[c][start:start + CHUNK_ROWS], dtype=np.float64))
            per[start:start + len(t)] += w[c] * (t @ means[c].T)
    best = per.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
    return InfluenceScores(per[np.arange(n), best] if n else np.zeros(0), best.astype(np.int64), per, names, w)


def _unit(x: Any) -> Any:
    import numpy as np

    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-300)

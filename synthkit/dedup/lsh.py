"""LSH banding: choosing (bands, rows), band keys, and candidate pairs.

``optimal_bands(threshold, num_perm)`` picks ``(b, r)`` with ``b * r <= num_perm``
minimising ``fp_weight * FP + fn_weight * FN`` for ``P(s) = 1 - (1 - s**r)**b``
(datasketch's MinHashLSH criterion; Simpson's rule over every ``(b, r)`` at once).

``band_keys`` folds a band's ``r`` uint32 values into one uint64 key per row.

``equal_key_runs`` groups rows by key in ``parts`` partitions (peak memory about
``16 bytes * rows / parts`` a band). ``run_edges`` turns each group into a star from
its lowest row; for verified pairs, every pair of a small group, or a star plus a chain
through consecutive members of a large one.
"""

from __future__ import annotations

import functools
import logging
from typing import Callable, Iterator

import numpy as np

from synthkit.dedup.shingles import fmix64

log = logging.getLogger(__name__)

_GRID = 801  # Simpson points per integral; error ~1e-9, far below the gaps between choices
_KEY_MUL = np.uint64(0x9E3779B97F4A7C15)
ALL_PAIRS = 64  # verified runs up to this many rows link every pair (at most 2,016 checks a run)


def _simpson(y: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Composite Simpson over the last axis of ``y`` sampled on an odd grid."""
    h = (hi - lo) / (y.shape[-1] - 1)
    return h / 3 * (y[..., 0] + y[..., -1] + 4 * y[..., 1:-1:2].sum(-1) + 2 * y[..., 2:-1:2].sum(-1))


def collision_probability(s: np.ndarray, b: np.ndarray, r: np.ndarray) -> np.ndarray:
    """P(a pair with similarity ``s`` shares a bucket) for ``b`` bands of ``r`` rows."""
    return 1.0 - (1.0 - s ** r) ** b


def band_errors(threshold: float, num_perm: int, fp_weight: float = 0.5,
                fn_weight: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(b, r, weighted error)`` for every ``b * r <= num_perm``."""
    bands = np.arange(1, num_perm + 1)
    per_b = num_perm // bands                       # rows 1 .. num_perm // b for each b
    b = np.repeat(bands, per_b).astype(np.float64)[:, None]
    r = (np.arange(per_b.sum()) - np.repeat(np.cumsum(per_b) - per_b, per_b) + 1).astype(np.float64)[:, None]
    s_lo = np.linspace(0.0, threshold, _GRID)[None, :]
    s_hi = np.linspace(threshold, 1.0, _GRID)[None, :]
    fp = _simpson(collision_probability(s_lo, b, r), 0.0, threshold)
    fn = _simpson(1.0 - collision_probability(s_hi, b, r), threshold, 1.0)
    return b[:, 0].astype(int), r[:, 0].astype(int), fp_weight * fp + fn_weight * fn


@functools.lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5,
                  fn_weight: float = 0.5) -> tuple[int, int]:
    """The ``(bands, rows)`` minimising the weighted FP + FN integral (ties: fewer bands)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    b, r, err = band_errors(threshold, num_perm, fp_weight, fn_weight)
    best = int(np.argmin(err))  # argmin keeps the first minimum: pairs are ordered by b, then r
    return int(b[best]), int(r[best])


def band_keys(band: np.ndarray) -> np.ndarray:
    """One uint64 key per row of a ``uint32 [rows, r]`` band slice."""
    key = np.zeros(band.shape[0], dtype=np.uint64)
    for c in range(band.shape[1]):
        key = fmix64((key * _KEY_MUL) ^ band[:, c].astype(np.uint64))
    return key


def equal_key_runs(read_keys: Callable[[int, int], np.ndarray], n: int, active: np.ndarray,
                   parts: int = 1, chunk: int = 1 << 20) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(rows, keys)`` per partition, sorted by key then row, active rows only.

    ``read_keys(lo, hi)`` returns the uint64 keys of rows ``lo:hi`` (from a
    memory-mapped file, say); ``parts`` must be a power of two.
    """
    if parts & (parts - 1):
        raise ValueError(f"parts must be a power of two, got {parts}")
    shift = np.uint64(64 - max(parts.bit_length() - 1, 0)) if parts > 1 else None
    for p in range(parts):
        rows, keys = [], []
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            k = np.asarray(read_keys(lo, hi))
            sel = np.array(active[lo:hi], dtype=bool)  # a copy: &= below must not touch `active`
            if shift is not None:
                sel &= (k >> shift) == np.uint64(p)
            idx = np.flatnonzero(sel)
            rows.append(idx + lo)
            keys.append(k[idx])
        r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        k = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
        order = np.argsort(k, kind="stable")  # stable: rows stay ascending inside a run
        yield r[order], k[order]


def run_edges(rows: np.ndarray, keys: np.ndarray, chain: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``(u, v)`` linking the rows of each run of equal keys (``u < v``): a star from
    the run's first row. With ``chain`` (the edges are verified, and one turned down must
    not cut a run apart): every pair of a run of up to ``ALL_PAIRS`` rows (a renamed copy
    is checked against its original even when the run also holds the original's twins),
    the star plus consecutive links in a longer one. Pairs come ordered by ``v``."""
    if rows.size < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    new = np.empty(rows.size, dtype=bool)
    new[0] = True
    np.not_equal(keys[1:], keys[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    run = np.cumsum(new) - 1  # each row's run
    head = rows[starts][run]
    member = ~new
    u, v = head[member], rows[member]
    if chain:
        size = np.diff(np.append(starts, rows.size))
        small = (size > 2) & (size <= ALL_PAIRS)
        follow = member[1:] & ~small[run][1:]  # consecutive links of the long runs
        prev_u, prev_v = rows[:-1][follow], rows[1:][follow]
        not_star = prev_u != head[1:][follow]  # the first link of a chain is already a star edge
        extra_u, extra_v = [prev_u[not_star]], [prev_v[not_star]]
        for k in np.unique(size[small]).tolist():  # every pair (i, j), 0 < i < j, of the runs of k rows
            at = starts[small & (size == k)][:, None]
            i, j = np.triu_indices(k, 1)
            keep = i > 0  # pairs with the head are star edges already
            extra_u.append(rows[at + i[keep]].ravel())
            extra_v.append(rows[at + j[keep]].ravel())
        u = np.concatenate((u, *extra_u))
        v = np.concatenate((v, *extra_v))
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    order = np.lexsort((lo, hi))
    return lo[order].astype(np.int64), hi[order].astype(np.int64)

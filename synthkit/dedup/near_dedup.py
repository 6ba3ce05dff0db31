"""Exact + near-duplicate clustering of a dataset with MinHash LSH.

``find_duplicates(data, settings, workdir)`` runs four passes:

1. **Sign** (:mod:`signing`): hashes and band signatures of ``settings.columns`` to ``workdir``.
2. **Exact**: rows with the same normalised token hash merge; the first joins LSH.
3. **LSH**: rows sharing a band key are candidates, merged in a union-find; with
   ``verify`` only if their real Jaccard is ``>= threshold``; code pairs always by
   ``renames.pair_verdict``.
4. **Representatives**: one row per cluster: the lowest index (``keep="first"``)
   or the most tokens, ties to the lowest (``keep="longest"``).

Rows with no token are never merged. Memory is bounded by disk, not rows:
docs/dedup.md, "Memory".
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from synthkit.dedup.lsh import band_keys, equal_key_runs, optimal_bands, run_edges
from synthkit.dedup.minhash import ShingleSpec
from synthkit.dedup.normalize import column_texts, row_text
from synthkit.dedup.renames import pair_verdict
from synthkit.dedup.signing import SignatureStore, SignJob, sign_all
from synthkit.dedup.unionfind import UnionFind
from synthkit.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class DedupSettings:
    """What ``find_duplicates`` does; the stage's config maps onto this."""

    columns: Sequence[str] = ("code",)
    spec: ShingleSpec = ShingleSpec()
    num_perm: int = 256
    threshold: float = 0.7
    bands: int | None = None      # both or neither of bands/rows; None = optimal_bands()
    rows: int | None = None
    fp_weight: float = 0.5
    fn_weight: float = 0.5
    mode: str = "fast"
    seed: int = 1
    exact: bool = True
    verify: bool = False
    keep: str = "first"           # "first" | "longest"
    workers: int = 0              # processes; 0 = one per core for big inputs, in-process for small ones
    batch_rows: int = 2048
    memory_mb: float = 512

    def banding(self) -> tuple[int, int]:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both bands and rows, or neither")
        if self.bands is None:
            return optimal_bands(self.threshold, self.num_perm, self.fp_weight, self.fn_weight)
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands * rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self.bands, self.rows


@dataclass
class DedupResult:
    """Per-row outcome. ``rep[i] == i`` means row ``i`` is kept."""

    cluster: np.ndarray           # int64 [n]: lowest row index of the row's cluster
    rep: np.ndarray               # int64 [n]: the kept row of the row's cluster
    exact: np.ndarray             # bool [n]: removed, and identical (normalised) to rep
    bands: int
    rows: int
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.rep.size)

    def kept(self) -> np.ndarray:
        return np.flatnonzero(self.rep == np.arange(self.n))

    def removed(self) -> np.ndarray:
        return np.flatnonzero(self.rep != np.arange(self.n))

    def cluster_sizes(self) -> np.ndarray:
        return np.bincount(self.cluster, minlength=self.n)


def iter_texts(data: Any, columns: Sequence[str], batch_rows: int) -> Iterator[list[str]]:
    """Batches of row texts; a ``datasets.Dataset`` is read column-selected as Arrow."""
    if isinstance(data, list):
        for lo in range(0, len(data), batch_rows):
            yield [row_text(r, columns) for r in data[lo:lo + batch_rows]]
        return
    missing = [c for c in columns if c not in data.column_names]
    if missing and len(data):
        raise DataError(f"columns {missing} are not in the dataset (it has: {', '.join(data.column_names)})")
    if not len(data):
        return
    ds = data.select_columns(list(columns)).with_format("arrow")
    for table in ds.iter(batch_size=batch_rows):
        yield column_texts({c: table.column(c).to_pylist() for c in columns}, columns)


def sign_job(settings: DedupSettings, use_perm: int) -> SignJob:
    """The signing job; code rows (``normalize`` code or auto) are always verified."""
    code = settings.spec.normalize != "text"
    return SignJob(settings.spec, settings.num_perm, use_perm, settings.seed, settings.mode,
                   settings.verify or code, settings.verify, 2 if code else 1)


def _workers(requested: int, n: int) -> int:
    if requested > 0:
        return requested
    # A pool costs ~1 s to start; below ~20k rows one core is done sooner.
    return 1 if n < 20_000 else max(1, os.cpu_count() or 1)


def _parts(n: int, memory_mb: float) -> int:
    """Partitions (a power of two) so that 16 bytes a row of one fits ``memory_mb``."""
    need = max(1, -(-16 * n // max(1, int(memory_mb * (1 << 20)))))
    return 1 << (need - 1).bit_length()


def find_duplicates(data: Any, settings: DedupSettings, workdir: Path) -> DedupResult:
    """Cluster ``data`` (a ``datasets.Dataset`` or a list of rows); see the module doc."""
    t0 = time.perf_counter()
    bands, rows = settings.banding()
    n = len(data)
    workers = _workers(settings.workers, n)
    job = sign_job(settings, bands * rows)
    store = SignatureStore(Path(workdir), bands * job.views, rows, job.keep_sets)
    try:
        sign_all(iter_texts(data, settings.columns, settings.batch_rows), job, store, workers)
    finally:
        store.close()
    if store.n != n:
        raise DataError(f"read {store.n} rows but the dataset has {n}")
    stats: dict[str, Any] = {"rows": n, "bands": bands, "rows_per_band": rows, "workers": workers,
                             "normalize": settings.spec.normalize, "code_rows": store.code_rows,
                             "sign_s": round(time.perf_counter() - t0, 3)}
    uf = UnionFind(n, Path(workdir) / "parent.npy")
    ntok = store.ntok()
    active = _new_array(workdir, "active", n, bool)
    _fill(active, lambda lo, hi: np.asarray(ntok[lo:hi]) > 0)
    stats["empty_rows"] = int(n - np.count_nonzero(active))
    parts = _parts(n, settings.memory_mb)
    if settings.exact:
        t = time.perf_counter()
        _exact_pass(store, uf, active, parts)
        stats["exact_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    stats.update(_lsh_pass(store, uf, active, parts, settings))
    stats["lsh_s"] = round(time.perf_counter() - t, 3)
    result = _representatives(uf, store, settings.keep, bands, rows, stats)
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    return result


def _new_array(workdir: Path, name: str, n: int, dtype) -> np.ndarray:
    return np.lib.format.open_memmap(str(Path(workdir) / f"{name}.npy"), mode="w+", dtype=dtype, shape=(n,))


def _fill(out: np.ndarray, fn, chunk: int = 1 << 22) -> None:
    for lo in range(0, out.shape[0], chunk):
        hi = min(out.shape[0], lo + chunk)
        out[lo:hi] = fn(lo, hi)


def _exact_pass(store: SignatureStore, uf: UnionFind, active: np.ndarray, parts: int) -> None:
    """Merge rows with equal token sequences; all but the first leave LSH."""
    rowhash = store.rowhash()
    for rows, keys in equal_key_runs(lambda lo, hi: rowhash[lo:hi], store.n, active, parts):
        u, v = run_edges(rows, keys)
        uf.union(u, v)
        active[v] = False


def _lsh_pass(store: SignatureStore, uf: UnionFind, active: np.ndarray, parts: int,
              settings: DedupSettings) -> dict[str, int]:
    counts = {"candidate_pairs": 0, "verified_pairs": 0, "rejected_pairs": 0}
    keys = _new_array(store.root, "keys", store.n, np.uint64)
    sets = store.sets() if store.keep_sets else None
    rejected = np.zeros(0, np.uint64)  # u * n + v of the pairs verification turned down (sorted)
    for j in range(store.bands):
        band = store.band(j)
        _fill(keys, lambda lo, hi: band_keys(np.asarray(band[lo:hi])), chunk=1 << 20)
        for rows, k in equal_key_runs(lambda lo, hi: keys[lo:hi], store.n, active, parts):
            u, v = run_edges(rows, k, chain=sets is not None)
            if u.size == 0:
                continue
            root_u, root_v = uf.find(u), uf.find(v)
            apart = root_u != root_v
            u, v, root_u, root_v = u[apart], v[apart], root_u[apart], root_v[apart]
            if sets is not None and u.size:  # a pair turned down in one band is not checked again
                pair = u.astype(np.uint64) * np.uint64(store.n) + v.astype(np.uint64)
                new = ~np.isin(pair, rejected, assume_unique=False)
                u, v, root_u, root_v, pair = u[new], v[new], root_u[new], root_v[new], pair[new]
            if sets is not None and u.size:
                ok, checked = _verify(u, v, root_u, root_v, sets, settings.threshold, settings.verify)
                counts["candidate_pairs"] += int(checked.sum())
                counts["verified_pairs"] += int(ok.sum())
                counts["rejected_pairs"] += int((checked & ~ok).sum())
                rejected = np.union1d(rejected, pair[checked & ~ok])
                u, v = u[ok], v[ok]
            else:
                counts["candidate_pairs"] += int(u.size)
            uf.union(u, v)
    return counts


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard of two sorted arrays of distinct values."""
    if a.size == 0 and b.size == 0:
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)


def _verify(u: np.ndarray, v: np.ndarray, root_u: np.ndarray, root_v: np.ndarray, sets: tuple[np.ndarray, np.ndarray],
            threshold: float, verify_text: bool) -> tuple[np.ndarray, np.ndarray]:
    values, off = sets
    return verify_in_order(u, v, root_u, root_v, lambda x, y: pair_verdict(
        np.asarray(values[off[x]:off[x + 1]]), np.asarray(values[off[y]:off[y + 1]]), threshold, verify_text))


def verify_in_order(u: np.ndarray, v: np.ndarray, root_u: np.ndarray, root_v: np.ndarray,
                    check: Callable[[int, int], bool]) -> tuple[np.ndarray, np.ndarray]:
    """``(merge, checked)`` per pair ``(u[i], v[i])``, whose rows' clusters are ``root_u[i]``,
    ``root_v[i]``, in order: a pair that earlier pairs of the batch already joined is not
    checked (a small run brings every pair, see ``lsh.run_edges``). One ``check`` per
    pair checked, not per shingle; pairs are few compared with rows."""
    ok = np.zeros(u.size, dtype=bool)
    checked = np.zeros(u.size, dtype=bool)
    joined: dict[int, int] = {}  # this batch's merges, over the roots it started from

    def root(x: int) -> int:
        while x in joined:
            x = joined[x]
        return x

    for i, (x, y, rx, ry) in enumerate(zip(u.tolist(), v.tolist(), root_u.tolist(), root_v.tolist())):
        rx, ry = root(rx), root(ry)
        if rx == ry:
            continue
        checked[i] = True
        if check(x, y):
            ok[i] = True
            joined[max(rx, ry)] = min(rx, ry)
    return ok, checked


def _representatives(uf: UnionFind, store: SignatureStore, keep: str, bands: int, rows: int,
                     stats: dict[str, Any]) -> DedupResult:
    n = store.n
    root = uf.roots()
    if keep == "first":
        rep = root
    elif keep == "longest":
        rep = _longest(root, store.ntok(), store.root)
    else:
        raise ValueError(f"keep must be 'first' or 'longest', got {keep!r}")
    rowhash = store.rowhash()
    exact = _new_array(store.root, "exact", n, bool)
    _fill(exact, lambda lo, hi: (np.asarray(rep[lo:hi]) != np.arange(lo, hi))
          & (np.asarray(rowhash[lo:hi]) == np.asarray(rowhash)[np.asarray(rep[lo:hi])]))
    removed = int(np.count_nonzero(np.asarray(rep) != np.arange(n)))
    stats.update(removed=removed, exact_removed=int(np.count_nonzero(exact)),
                 near_removed=removed - int(np.count_nonzero(exact)),
                 clusters=int(np.count_nonzero(np.bincount(np.asarray(root), minlength=n) > 1)))
    return DedupResult(np.asarray(root), np.asarray(rep), np.asarray(exact), bands, rows, stats)


def _longest(root: np.ndarray, ntok: np.ndarray, workdir: Path, chunk: int = 1 << 22) -> np.ndarray:
    """Per cluster, the row with the most tokens (ties: lowest index)."""
    n = root.size
    # Key = tokens in the high 32 bits, (2**32 - 1 - index) in the low ones:
    # the maximum is the longest row, then the lowest index.
    best = _new_array(workdir, "best", n, np.uint64)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        idx = np.arange(lo, hi, dtype=np.uint64)
        tok = np.minimum(np.asarray(ntok[lo:hi]), (1 << 31) - 1).astype(np.uint64)
        np.maximum.at(best, np.asarray(root[lo:hi]), (tok << np.uint64(32)) | (np.uint64(2**32 - 1) - idx))
    rep = _new_array(workdir, "rep", n, np.int64)
    _fill(rep, lambda lo, hi: (np.uint64(2**32 - 1) - (np.asarray(best)[np.asarray(root[lo:hi])]
                                                        & np.uint64(2**32 - 1))).astype(np.int64))
    return rep

"""The signature pass: batches of row texts -> hashes and band signatures on disk.

``sign_all(batches, job, store, num_workers)`` hashes every batch (in ``forkserver``
worker processes when ``num_workers > 1``, at most ``2 * num_workers`` batches in
flight) and appends the results, in order, to a :class:`SignatureStore`:

- ``rowhash.u64`` ``[n] uint64``: the exact-duplicate key (0 = empty row);
- ``ntok.i64`` ``[n] int64``: tokens per row;
- ``band_<j>.u32`` ``[n, rows] uint32``: the signature slice of band ``j``;
- ``sets.u64`` / ``sets_count.i64`` (with ``keep_sets``): what verification reads
  (a code row's concrete tokens, a verified text row's distinct shingle hashes).

Disk per row: ``8 + 8 + 4 * bands * rows`` bytes, + 8 per kept set element.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from synthkit.dedup.minhash import MinHasher, ShingleSpec
from synthkit.dedup.renames import CODE_MARK

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignJob:
    """Everything a worker needs (picklable)."""

    spec: ShingleSpec
    num_perm: int
    use_perm: int           # bands * rows: the permutations LSH reads
    seed: int = 1
    mode: str = "fast"
    keep_sets: bool = False     # store what verification reads: code rows always, text rows if verify_text
    verify_text: bool = False   # text rows' distinct shingle hashes are stored too
    views: int = 1              # signatures per row: 2 with code rows (codeview's two abstract views)


@dataclass
class BatchOut:
    rowhash: np.ndarray     # uint64 [n]
    ntok: np.ndarray        # int64 [n]
    sig: np.ndarray         # uint32 [n, views * use_perm]: view v's signature at [v * use_perm, ...)
    sets: np.ndarray | None = None       # uint64, rows' distinct shingle hashes, concatenated
    set_counts: np.ndarray | None = None  # int64 [n]
    code_rows: int = 0                    # rows shingled on the code view (see normalize.row_views)


_HASHERS: dict[SignJob, MinHasher] = {}


def _hasher(job: SignJob) -> MinHasher:
    if job not in _HASHERS:
        _HASHERS[job] = MinHasher(job.num_perm, job.seed, job.mode, job.spec, use_perm=job.use_perm)
    return _HASHERS[job]


def sign_batch(job: SignJob, texts: list[str]) -> BatchOut:
    """Hashes and signatures of one batch (runs in a worker or in-process)."""
    mh = _hasher(job)
    n = len(texts)
    out = BatchOut(np.zeros(n, np.uint64), np.zeros(n, np.int64), np.zeros((n, mh.num_perm * job.views), np.uint32))
    sets, set_rows = [], []
    for idx, sh, code in mh.parts(texts):  # the text rows, then the code rows
        out.rowhash[idx], views, concrete = mh.hashed(sh, code)
        out.ntok[idx] = sh.tok_count
        poly_sh = views[0]
        if not code:  # one view: its signature serves every band set
            views = [poly_sh if mh.mode == "fast" else mh.shingle_hashes(sh)] * job.views
        p = mh.num_perm
        out.sig[idx, :p] = first = mh.signatures_from(views[0], sh.counts)
        for v in range(1, job.views):  # a later view is signed only for the rows where it differs
            out.sig[idx, v * p:(v + 1) * p] = first
            shingle_row = np.repeat(np.arange(sh.n_rows), sh.counts)
            rows = np.unique(shingle_row[views[v] != views[0]])
            if rows.size:
                mine = np.isin(shingle_row, rows)
                out.sig[idx[rows], v * p:(v + 1) * p] = mh.signatures_from(views[v][mine], sh.counts[rows])
        if code and job.keep_sets:  # the concrete tokens, after CODE_MARK (see renames.pair_verdict)
            starts = np.concatenate(([0], np.cumsum(sh.tok_count)[:-1]))
            rows = np.repeat(np.arange(sh.n_rows), sh.tok_count + 1)
            vals = np.insert(concrete, starts, CODE_MARK)
            sets.append(vals)
            set_rows.append(idx[rows])
        elif job.keep_sets and job.verify_text:
            rows = np.repeat(np.arange(sh.n_rows), sh.counts)
            order = np.lexsort((poly_sh, rows))
            r, h = rows[order], poly_sh[order]
            first = np.ones(h.size, dtype=bool)
            first[1:] = (h[1:] != h[:-1]) | (r[1:] != r[:-1])
            sets.append(h[first])
            set_rows.append(idx[r[first]])
    out.code_rows = mh.code_rows
    if job.keep_sets:  # each row's stored array, rows in input order
        h = np.concatenate(sets) if sets else np.zeros(0, np.uint64)
        r = np.concatenate(set_rows) if set_rows else np.zeros(0, np.int64)
        order = np.argsort(r, kind="stable")
        out.sets = h[order]
        out.set_counts = np.bincount(r, minlength=n).astype(np.int64)
    return out


def _work(job: SignJob, texts: list[str]) -> BatchOut:
    return sign_batch(job, texts)


class SignatureStore:
    """Append-only files under ``root`` (see module doc), read back memory-mapped."""

    def __init__(self, root: Path, bands: int, rows: int, keep_sets: bool) -> None:
        self.root, self.bands, self.rows, self.keep_sets = Path(root), bands, rows, keep_sets
        self.root.mkdir(parents=True, exist_ok=True)
        self._band_files = [open(self.root / f"band_{j}.u32", "wb") for j in range(bands)]
        self._ntok = open(self.root / "ntok.i64", "wb")
        self._rowhash = open(self.root / "rowhash.u64", "wb")
        self._sets = open(self.root / "sets.u64", "wb") if keep_sets else None
        self._set_counts = open(self.root / "sets_count.i64", "wb") if keep_sets else None
        self.n = 0
        self.code_rows = 0

    def append(self, out: BatchOut) -> None:
        self._rowhash.write(out.rowhash.astype("<u8").tobytes())
        self._ntok.write(out.ntok.astype("<i8").tobytes())
        for j, f in enumerate(self._band_files):
            f.write(np.ascontiguousarray(out.sig[:, j * self.rows:(j + 1) * self.rows]).astype("<u4").tobytes())
        if self._sets is not None:
            self._sets.write(out.sets.astype("<u8").tobytes())
            self._set_counts.write(out.set_counts.astype("<i8").tobytes())
        self.n += out.rowhash.size
        self.code_rows += out.code_rows

    def close(self) -> None:
        for f in [*self._band_files, self._ntok, self._rowhash, self._sets, self._set_counts]:
            if f is not None:
                f.close()

    # --- read side (after close) ------------------------------------------------------
    def _map(self, name: str, dtype: str, shape=None) -> np.ndarray:
        path = self.root / name
        if path.stat().st_size == 0:
            return np.zeros(shape or (0,), dtype=dtype)
        return np.memmap(path, dtype=dtype, mode="r", shape=shape)

    def rowhash(self) -> np.ndarray:
        return self._map("rowhash.u64", "<u8")

    def ntok(self) -> np.ndarray:
        return self._map("ntok.i64", "<i8")

    def band(self, j: int) -> np.ndarray:
        return self._map(f"band_{j}.u32", "<u4", (self.n, self.rows))

    def sets(self) -> tuple[np.ndarray, np.ndarray]:
        """(values, offsets[n + 1]); offsets are built once, 8 bytes a row."""
        counts = self._map("sets_count.i64", "<i8")
        offsets = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return self._map("sets.u64", "<u8"), offsets


def sign_all(batches: Iterable[list[str]], job: SignJob, store: SignatureStore,
             num_workers: int = 1) -> None:
    """Sign every batch into ``store`` in input order."""
    if num_workers <= 1:
        for texts in batches:
            store.append(sign_batch(job, texts))
        return
    ctx = mp.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=num_workers, mp_context=ctx) as pool:
        pending: deque = deque()
        for texts in batches:
            pending.append(pool.submit(_work, job, texts))
            if len(pending) >= 2 * num_workers:
                store.append(pending.popleft().result())
        while pending:
            store.append(pending.popleft().result())

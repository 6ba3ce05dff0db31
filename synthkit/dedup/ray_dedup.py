"""``find_duplicates`` on a Ray cluster: the same clusters, computed without one process holding the signatures.

``find_duplicates_ray(files, counts, settings, workdir, blocks)`` gives the same
``DedupResult`` as ``near_dedup.find_duplicates`` on the same rows (tested), in four
passes: **sign** (Ray Data ``map_batches`` over the shard files: per row its position,
exact hash, token count and one uint64 key per LSH band; signatures die in the task);
**exact** (the local ``_exact_pass`` on the driver, over memory-mapped per-row
hashes); **LSH** (a shuffle by band in Ray Core tasks: map tasks split
``(band, key, position)`` by a hash of ``(band, key)``, each reduce task gets whole
buckets and emits their edges, checking real Jaccard with ``verify``); **components**
(edges streamed into the local memory-mapped union-find). No signature or band key
reaches the driver. Memory per pass: docs/scaling.md#memory-of-the-distributed-dedup.
Limit: each shard file is read with its own schema, so a compared struct column whose
fields differ between shards is rendered without the other shards' fields.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from synthkit.dedup.lsh import band_keys, run_edges
from synthkit.dedup.near_dedup import (
    DedupResult,
    DedupSettings,
    _exact_pass,
    _fill,
    _new_array,
    _parts,
    _representatives,
    sign_job,
    verify_in_order,
)
from synthkit.dedup.normalize import column_texts
from synthkit.dedup.renames import pair_verdict
from synthkit.dedup.signing import SignJob, sign_batch
from synthkit.dedup.unionfind import UnionFind
from synthkit.errors import DataError

log = logging.getLogger(__name__)


class _Scalars:
    """The per-row arrays ``_representatives`` reads, as the local SignatureStore gives them."""

    def __init__(self, workdir: Path, n: int) -> None:
        self.root, self.n = Path(workdir), n
        self._rowhash = _new_array(workdir, "rowhash", n, np.uint64)
        self._ntok = _new_array(workdir, "ntok", n, np.int64)

    def rowhash(self) -> np.ndarray:
        return self._rowhash

    def ntok(self) -> np.ndarray:
        return self._ntok


def _sign(batch: dict[str, np.ndarray], job: SignJob, columns: list[str], bands: int, rows: int,
          batch_rows: int) -> dict[str, np.ndarray]:
    """Ray Data UDF: input slices ``(file, lo, hi, offset)`` -> per-row hash, tokens, band keys."""
    out: dict[str, list] = {"pos": [], "rowhash": [], "ntok": [], "keys": [], "sets": []}
    for path, lo, hi, offset in zip(batch["file"], batch["lo"], batch["hi"], batch["offset"]):
        lo, hi = int(lo), int(hi)
        pos = int(offset) + lo
        for texts in _texts(_read(Path(str(path)), columns, lo, hi), columns, batch_rows):
            signed = sign_batch(job, texts)
            out["pos"].append(np.arange(pos, pos + len(texts), dtype=np.int64))
            out["rowhash"].append(signed.rowhash.astype(np.uint64))
            out["ntok"].append(signed.ntok.astype(np.int64))
            out["keys"].append(np.stack([band_keys(signed.sig[:, j * rows:(j + 1) * rows]) for j in range(bands)],
                                        axis=1) if len(texts) else np.zeros((0, bands), np.uint64))
            if job.keep_sets:
                ends = np.cumsum(signed.set_counts)
                out["sets"].extend(np.split(signed.sets, ends[:-1]) if len(texts) else [])
            pos += len(texts)
    result = {k: np.concatenate(v) if v else np.zeros(0, np.int64) for k, v in out.items() if k not in ("keys", "sets")}
    result["keys"] = np.concatenate(out["keys"]) if out["keys"] else np.zeros((0, bands), np.uint64)
    if job.keep_sets:
        result["sets"] = _object_array(out["sets"])
    return result


def _texts(table, columns: list[str], batch_rows: int):
    """Batches of row texts of an Arrow table: what ``iter_texts`` yields for a Dataset
    (``column_texts`` over each record batch's values), without importing ``datasets``."""
    for lo in range(0, table.num_rows, batch_rows):
        part = table.slice(lo, batch_rows)
        yield column_texts({c: part.column(c).to_pylist() for c in columns}, columns)


def _read(path: Path, columns: list[str], lo: int, hi: int):
    """Rows ``lo:hi`` of one shard file as an Arrow table of ``columns`` (absent ones null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from synthkit.core import rundir

    if path.suffix == ".parquet":
        names = pq.ParquetFile(path).schema_arrow.names
        table = pq.read_table(path, columns=[c for c in columns if c in names]).slice(lo, hi - lo)
    else:
        table = pa.Table.from_pylist(rundir.read_rows(path)[lo:hi])
        table = table.select([c for c in columns if c in table.column_names])
    for c in columns:
        if c not in table.column_names:
            table = table.append_column(c, pa.nulls(table.num_rows, pa.string()))
    return table


def _object_array(items: list) -> np.ndarray:
    arr = np.empty(len(items), dtype=object)
    arr[:] = items
    return arr


def _explode(batch: dict[str, np.ndarray], inactive: np.ndarray) -> dict[str, np.ndarray]:
    """One ``(band, key, pos)`` row per band of every row still in LSH."""
    pos = batch["pos"]
    keep = (batch["ntok"] > 0) & ~np.isin(pos, inactive)
    pos, keys = pos[keep], batch["keys"][keep]
    bands = keys.shape[1] if keys.ndim == 2 else 0
    out = {"band": np.repeat(np.arange(bands, dtype=np.int32)[None, :], pos.size, 0).reshape(-1),
           "key": keys.reshape(-1).astype(np.uint64), "pos": np.repeat(pos, bands)}
    if "sets" in batch:
        out["sets"] = _object_array([s for s in batch["sets"][keep] for _ in range(bands)])
    return out


def _partition(block, inactive: np.ndarray, parts: int) -> list[dict[str, np.ndarray]]:
    """Shuffle map (a Ray task over one block of signed rows): explode into band rows and
    split them by a hash of (band, key) into ``parts`` pieces."""
    from ray.data.block import BlockAccessor

    rows = _explode(BlockAccessor.for_block(block).to_numpy(), inactive)
    h = (rows["key"] ^ (rows["band"].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))) % np.uint64(parts)
    return [{c: v[h == p] for c, v in rows.items()} for p in range(parts)]


def _reduce(job: SignJob, threshold: float, *pieces: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Shuffle reduce (a Ray task): every band row of some buckets -> the buckets' edges."""
    batch = {c: np.concatenate([p[c] for p in pieces]) for c in pieces[0]}
    return _bucket_edges(batch, job, threshold)


def _bucket_edges(batch: dict[str, np.ndarray], job: SignJob, threshold: float) -> dict[str, np.ndarray]:
    """Ray Data UDF over one block sorted by (band, key): each bucket's edges, as ``_lsh_pass`` makes them."""
    band, key, pos = batch["band"], batch["key"], batch["pos"]
    order = np.lexsort((pos, key, band))
    band, key, pos = band[order], key[order], pos[order]
    new = np.ones(pos.size, dtype=bool)
    new[1:] = (band[1:] != band[:-1]) | (key[1:] != key[:-1])
    u, v = run_edges(pos, np.cumsum(new), chain=job.keep_sets)
    if job.keep_sets and u.size:
        sets = dict(zip(pos.tolist(), batch["sets"][order]))
        ok, _ = verify_in_order(u, v, u, v, lambda a, b: pair_verdict(np.asarray(sets[a]), np.asarray(sets[b]),
                                                                      threshold, job.verify_text))
        u, v = u[ok], v[ok]
    if u.size:
        pairs = np.unique(np.stack([u, v], axis=1), axis=0)  # one edge per pair, whatever the bands
        u, v = pairs[:, 0], pairs[:, 1]
    return {"u": u.astype(np.int64), "v": v.astype(np.int64)}


def _slices(files: list[Path], counts: list[int], batch_rows: int) -> list[dict[str, Any]]:
    out, offset = [], 0
    for path, count in zip(files, counts):
        for lo in range(0, count, batch_rows):
            out.append({"file": str(path), "lo": lo, "hi": min(count, lo + batch_rows), "offset": offset})
        offset += count
    return out


def _shuffle_edges(signed, inactive, parts: int, settings: DedupSettings, uf: UnionFind) -> int:
    """The band shuffle: one map task per block of ``signed``, ``parts`` reduce tasks; each
    reduce's edges go into ``uf`` as it finishes. Returns the number of edges."""
    import ray

    part = ray.remote(_partition).options(num_returns=parts) if parts > 1 else ray.remote(_partition)
    maps = [part.remote(block, inactive, parts) for block in signed.to_arrow_refs()]
    if parts == 1:
        maps = [[m] for m in maps]
    reduce = ray.remote(_reduce)
    job = sign_job(settings, 1)
    pending = [reduce.remote(job, settings.threshold, *[m[p] for m in maps]) for p in range(parts)]
    total = 0
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        edges = ray.get(ready[0])
        if edges["u"].size:
            uf.union(edges["u"].astype(np.int64), edges["v"].astype(np.int64))
            total += int(edges["u"].size)
    return total


def find_duplicates_ray(files: list[Path], counts: list[int], settings: DedupSettings, workdir: Path,
                        blocks: int) -> DedupResult:
    """Cluster the rows of ``files`` (shard files, in order; ``counts`` rows each) on Ray."""
    import ray

    t0 = time.perf_counter()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    bands, rows = settings.banding()
    n = int(sum(counts))
    job = sign_job(settings, bands * rows)
    items = _slices(files, counts, settings.batch_rows)
    blocks = max(1, min(blocks, len(items)))
    signed = (ray.data.from_items(items, override_num_blocks=blocks)
              .map_batches(_sign, batch_size=1, fn_kwargs={"job": job, "columns": list(settings.columns),
                                                           "bands": bands * job.views,
                                                           "rows": rows, "batch_rows": settings.batch_rows})
              .materialize())
    scalars = _Scalars(workdir, n)
    seen = 0
    for b in signed.select_columns(["pos", "rowhash", "ntok"]).iter_batches(batch_format="numpy", batch_size=None):
        scalars._rowhash[b["pos"]] = b["rowhash"]
        scalars._ntok[b["pos"]] = b["ntok"]
        seen += b["pos"].size
    if seen != n:
        raise DataError(f"signed {seen} rows but the input has {n}")
    stats: dict[str, Any] = {"rows": n, "bands": bands, "rows_per_band": rows, "workers": f"ray:{blocks} blocks",
                             "sign_s": round(time.perf_counter() - t0, 3)}
    uf = UnionFind(n, workdir / "parent.npy")
    active = _new_array(workdir, "active", n, bool)
    _fill(active, lambda lo, hi: np.asarray(scalars._ntok[lo:hi]) > 0)
    stats["empty_rows"] = int(n - np.count_nonzero(active))
    if settings.exact:
        t = time.perf_counter()
        _exact_pass(scalars, uf, active, _parts(n, settings.memory_mb))
        stats["exact_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    inactive = ray.put(np.flatnonzero(~np.asarray(active) & (np.asarray(scalars._ntok) > 0)))
    stats["candidate_pairs"] = _shuffle_edges(signed, inactive, blocks, settings, uf)
    stats["lsh_s"] = round(time.perf_counter() - t, 3)
    del signed
    result = _representatives(uf, scalars, settings.keep, bands, rows, stats)
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    return result

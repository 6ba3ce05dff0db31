"""The row browser's query: parse the URL's filters, scan the shards, return one page.

``Query.parse(params)`` checks every parameter and names the bad one. ``run`` answers:

- no filter, no sort: rows located from the footers' counts, read from their row groups;
- filters, unsorted: filter columns scanned in record batches of ``BATCH`` rows, stopping
  once the page and one more row are found (the total then shows as "more");
- sorted by a score: a numpy top-k of ``offset + size`` (nulls last); filtered and
  sorted pages stop at ``MAX_OFFSET`` rows deep.

Scans read only the filter's columns; a page's rows are read with ``LIST_COLUMNS``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from synthkit.core.rejected import COLUMNS as PACKED_COLUMNS
from synthkit.core.rejected import unpack
from synthkit.errors import DataError
from synthkit.viewer.source import Folder, RunSource, Stage

BATCH = 16_384
MAX_OFFSET = 100_000
PAGE_SIZE = 50
TEXT_COLUMNS = ("id", "instruction", "response", "code", "tests")
LIST_COLUMNS = ["id", "instruction", "entry_point", "scores", "verify", "meta", "rejected_by", "rejected_detail",
                "dup_of", "dup_cluster"]


@dataclass
class Query:
    stage: str | None = None
    reason: str | None = None      # None: kept rows; "*": every rejected row; else one reason
    q: str = ""
    score: str | None = None
    min: float | None = None
    max: float | None = None
    checkpoint: str | None = None
    passed: bool | None = None
    sort: str | None = None
    order: str = "desc"
    page: int = 1
    size: int = PAGE_SIZE

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> "Query":
        """From URL parameters; empty values mean "not set". Raises DataError naming the parameter."""
        get = {k: v.strip() for k, v in params.items() if v is not None and v.strip() != ""}
        unknown = sorted(set(get) - set(cls.__dataclass_fields__))
        if unknown:
            raise DataError(f"unknown parameter(s) {', '.join(unknown)}; known: "
                            + ", ".join(cls.__dataclass_fields__))
        q = cls(stage=get.get("stage"), reason=get.get("reason"), q=get.get("q", ""), score=get.get("score"),
                checkpoint=get.get("checkpoint"), sort=get.get("sort"), order=get.get("order", "desc"))
        q.min, q.max = _number(get, "min"), _number(get, "max")
        page, size = _number(get, "page", integer=True), _number(get, "size", integer=True)
        q.page, q.size = int(1 if page is None else page), int(PAGE_SIZE if size is None else size)
        if q.page < 1 or not 1 <= q.size <= 200:
            raise DataError("page must be >= 1 and size between 1 and 200")
        if "passed" in get:
            if get["passed"] not in ("1", "0", "true", "false"):
                raise DataError(f"passed={get['passed']!r}: expected 1 (passed) or 0 (failed)")
            q.passed = get["passed"] in ("1", "true")
        if q.order not in ("asc", "desc"):
            raise DataError(f"order={q.order!r}: expected asc or desc")
        if (q.min is not None or q.max is not None) and not q.score:
            if not q.sort:
                raise DataError("min/max need score=NAME (the score they range over)")
            q.score = q.sort      # sort=judge&min=5: the range is over the score sorted by
        if q.reason and not q.stage and ":" in q.reason and q.reason != "*":
            q.stage, q.reason = q.reason.split(":", 1)
        return q

    @property
    def filtered(self) -> bool:
        return bool(self.q or self.min is not None or self.max is not None or self.checkpoint
                    or self.passed is not None or (self.reason not in (None, "*")))

    def params(self, **change: Any) -> dict[str, str]:
        """This query's URL parameters with ``change`` applied (unset ones left out)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d.update(change)
        out = {}
        for k, v in d.items():
            if v is None or v == "" or (k, v) in (("page", 1), ("size", PAGE_SIZE), ("order", "desc")):
                continue
            out[k] = ("1" if v else "0") if isinstance(v, bool) else str(v)
        return out


def _number(get: Mapping[str, str], name: str, integer: bool = False) -> float | None:
    if name not in get:
        return None
    try:
        v = int(get[name]) if integer else float(get[name])
    except ValueError:
        raise DataError(f"{name}={get[name]!r}: expected {'an integer' if integer else 'a number'}") from None
    if not integer and not math.isfinite(v):
        raise DataError(f"{name}={get[name]!r}: expected a finite number")
    return v


@dataclass
class Page:
    stage: Stage | None
    rejected: bool
    rows: list[dict[str, Any]]
    offset: int
    total: int | None              # None: more rows match than were counted (unsorted filter)
    has_next: bool
    score_names: list[str] = field(default_factory=list)
    legacy: bool = False


def run(source: RunSource, q: Query) -> Page:
    if q.reason and not q.stage:
        q.stage = _stage_of_reason(source, q.reason)
    stage = source.stage(q.stage)
    rejected = q.reason is not None
    folder = source.folder(source.rejected_path(stage) if rejected else source.kept_path(stage))
    offset = (q.page - 1) * q.size
    names = score_names(folder)
    for name in (q.score, q.sort):
        if name and name not in names:
            raise DataError(f"score {name!r} is not in these rows; scores: {', '.join(names) or 'none'}")
    if (q.filtered or q.sort) and offset > MAX_OFFSET:
        raise DataError(f"page {q.page} is deeper than {MAX_OFFSET} rows; narrow the filter")
    reason = f"{stage.name}:{q.reason}" if rejected and q.reason != "*" else None
    if q.sort:
        hits, total = _top(folder, q, reason, offset + q.size)
        picked, has_next = hits[offset:offset + q.size], total > offset + q.size
    elif q.filtered:
        hits = []
        for row in _matches(folder, q, reason):
            hits.append(row)
            if len(hits) > offset + q.size:
                break
        picked, has_next = hits[offset:offset + q.size], len(hits) > offset + q.size
        total = None if has_next else len(hits)
    else:
        total = folder.total
        picked, has_next = list(range(offset, min(offset + q.size, total))), offset + q.size < total
    return Page(stage, rejected, folder.read(picked, LIST_COLUMNS), offset, total, has_next, names, folder.legacy)


def _stage_of_reason(source: RunSource, reason: str) -> str:
    """The one stage that dropped rows for ``reason`` (from the funnel), else a DataError."""
    stages = [s["key"] for s in source.funnel() if s.get("key") and reason in (s.get("dropped") or {})]
    if len(stages) != 1:
        raise DataError(f"reason={reason!r} needs stage=NAME (or reason=STAGE:REASON): "
                        + (f"{len(stages)} stages dropped rows for it: {', '.join(stages)}" if stages
                           else "no stage dropped rows for it"))
    return stages[0]


def score_names(folder: Folder) -> list[str]:
    """The score fields of the folder's first and last files: from the footers, or
    for packed rejected files from the rows of their first row group."""
    import pyarrow.parquet as pq

    names: dict[str, None] = {}
    for fi in sorted({0, len(folder.files) - 1}) if folder.files else ():
        if folder.info(fi)[1]:
            first = pq.ParquetFile(folder.files[fi]).read_row_group(0, columns=["row"]) if folder.info(fi)[0] else None
            for row in unpack(first.to_pylist()[:500]) if first is not None else []:
                names.update(dict.fromkeys(k for k, v in (row.get("scores") or {}).items()))
            continue
        schema = pq.read_schema(folder.files[fi])
        if "scores" in schema.names and hasattr(schema.field("scores").type, "num_fields"):
            names.update(dict.fromkeys(t.name for t in schema.field("scores").type))
    return sorted(names)


def _batches(folder: Folder, columns: list[str]) -> Iterator[tuple[int, Any]]:
    """(global row of the batch's first row, record batch) over every file, as stored."""
    import pyarrow.parquet as pq

    for fi, path in enumerate(folder.files):
        pf = pq.ParquetFile(path)
        if not pf.metadata.num_rows or not pf.schema_arrow.names:   # a job that dropped nothing
            continue
        folder.info(fi, pf.metadata)
        have = [c for c in columns if c in pf.schema_arrow.names]
        at = folder.starts[fi]
        for batch in pf.iter_batches(batch_size=BATCH, columns=have or [pf.schema_arrow.names[0]]):
            yield at, batch
            at += batch.num_rows


def candidates(folder: Folder, columns: list[str], prefilter=None) -> Iterator[tuple[Any, Any]]:
    """(global rows, table with flat ``columns``) per batch. A packed rejected file
    (``core.rejected``: the row as JSON) is narrowed by ``prefilter(raw batch) -> bool
    array`` first, and only the rows left are parsed; without columns beyond
    ``PACKED_COLUMNS`` nothing is parsed."""
    import numpy as np

    from synthkit.core.rundir import rows_to_table

    flat_needed = not set(columns) <= set(PACKED_COLUMNS)
    for at, batch in _batches(folder, list(dict.fromkeys(columns + list(PACKED_COLUMNS)))):
        if not folder.is_packed(at):
            yield at + np.arange(batch.num_rows), batch
            continue
        keep = np.nonzero(prefilter(batch))[0] if prefilter else np.arange(batch.num_rows)
        if not len(keep):
            continue
        part = batch.take(keep)
        if flat_needed:
            part = rows_to_table(unpack(part.to_pylist()))[0]
        yield at + keep, part


def _prefilter(q: Query, reason: str | None):
    """The filters a packed file can answer on its raw columns (no false negatives)."""
    import pyarrow.compute as pc

    def pre(batch):
        m = pc.equal(batch.column("rejected_by"), reason) if reason else None
        if q.q and not (set(q.q) & set('"\\') or any(ord(ch) < 32 for ch in q.q)):   # JSON keeps it as typed
            hit = pc.match_substring(batch.column("row"), q.q, ignore_case=True)
            m = hit if m is None else pc.and_(m, hit)
        return pc.fill_null(m, False).to_numpy(zero_copy_only=False) if m is not None else [True] * batch.num_rows
    return pre


def _columns(q: Query, reason: str | None) -> list[str]:
    cols = ["rejected_by"] if reason else []
    cols += list(TEXT_COLUMNS) if q.q else []
    cols += ["scores"] if (q.score or q.sort) else []
    cols += ["meta"] if q.checkpoint else []
    cols += ["verify"] if q.passed is not None else []
    return cols or ["id"]


def _mask(batch: Any, q: Query, reason: str | None):
    """Which rows of ``batch`` pass every filter, as a numpy bool array."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    m = np.ones(batch.num_rows, dtype=bool)

    def both(cond) -> None:
        nonlocal m
        m &= cond.to_numpy(zero_copy_only=False) if cond is not None else False

    def ok(expr):
        return None if expr is None else pc.fill_null(expr, False)

    if reason:
        col = _col(batch, "rejected_by")
        both(ok(pc.equal(col, reason)) if col is not None else None)
    if q.q:
        hit = None
        for name in TEXT_COLUMNS:
            col = _col(batch, name)
            if col is not None and pa.types.is_string(col.type):
                found = ok(pc.match_substring(col, q.q, ignore_case=True))
                hit = found if hit is None else pc.or_(hit, found)
        both(hit)
    if q.score and (q.min is not None or q.max is not None):
        v = _col(batch, "scores", q.score)
        cond = None if v is None else pc.is_valid(v)
        if cond is not None and q.min is not None:
            cond = pc.and_(cond, ok(pc.greater_equal(v, q.min)))
        if cond is not None and q.max is not None:
            cond = pc.and_(cond, ok(pc.less_equal(v, q.max)))
        both(ok(cond) if cond is not None else None)
    if q.checkpoint:
        col = _col(batch, "meta", "checkpoint")
        both(ok(pc.equal(pc.cast(col, pa.string()), q.checkpoint)) if col is not None else None)
    if q.passed is not None:
        col = _col(batch, "verify", "passed")
        both(ok(pc.equal(col, q.passed)) if col is not None and pa.types.is_boolean(col.type) else None)
    return m


def _col(batch: Any, name: str, sub: str | None = None):
    """A column, or a field of a struct column (null where the struct is null); None if absent."""
    import pyarrow.compute as pc

    if name not in batch.schema.names:
        return None
    col = batch.column(name)
    if sub is None:
        return col
    if not hasattr(col.type, "get_field_index") or col.type.get_field_index(sub) < 0:
        return None
    return pc.struct_field(col, [col.type.get_field_index(sub)])


def _matches(folder: Folder, q: Query, reason: str | None) -> Iterator[int]:
    for rows, table in candidates(folder, _columns(q, reason), _prefilter(q, reason)):
        for r in rows[_mask(table, q, reason)]:
            yield int(r)


def _top(folder: Folder, q: Query, reason: str | None, k: int) -> tuple[list[int], int]:
    """Rows ranked by ``q.sort`` (nulls last, ties by row order): the first ``k``, and how many matched."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    keys, rows, total = np.empty(0), np.empty(0, dtype=np.int64), 0
    sign = -1.0 if q.order == "desc" else 1.0
    for at_rows, batch in candidates(folder, _columns(q, reason), _prefilter(q, reason)):
        idx = np.nonzero(_mask(batch, q, reason))[0]
        if not len(idx):
            continue
        total += len(idx)
        v = _col(batch, "scores", q.sort)
        vals = (np.full(len(idx), np.nan) if v is None else
                pc.fill_null(pc.cast(v, pa.float64()), np.nan).to_numpy(zero_copy_only=False)[idx])
        batch_keys = np.where(np.isnan(vals), np.inf, sign * vals)
        keys, rows = np.concatenate([keys, batch_keys]), np.concatenate([rows, at_rows[idx]])
        if len(keys) > 2 * k:   # keep the best k; lexsort, not argpartition, so ties stay in row order
            keep = np.lexsort((rows, keys))[:k]
            keys, rows = keys[keep], rows[keep]
    order = np.lexsort((rows, keys))[:k]
    return [int(r) for r in rows[order]], total

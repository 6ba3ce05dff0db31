"""select_top: keep the best-scored rows of the whole dataset (a top fraction or a top k).

- ``by:`` is a dotted path into the row (``scores.judge``). Set ``fraction``
  (keep ``ceil(f * n)``, ``f`` as the decimal written) or ``k`` (keep ``min(k, n)``),
  ``n`` counting the rows that have a score; ``order: desc`` keeps the highest.
- Ties go by ``id`` (as str, ascending), then input position: the same cut everywhere.
- A missing, ``None``, non-numeric (bool, string) or non-finite score is rejected as
  ``no_score``; the other unkept rows as ``below_top`` (detail: value, rank, cut).
- Kept rows come back in input order, unchanged.
- Memory: ranking reads only ``by`` and ``id`` from Arrow (about 8 bytes and an id a
  row); rejected rows are held as dicts. Distributed: ``map_shard`` reads one shard's
  (score, id) pairs, ``reduce_shards`` ranks them with the same code.
"""

from __future__ import annotations

import logging
import math
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal, Sequence

from pydantic import Field, field_validator, model_validator

from synthkit.core.record import Rejected, Row, get_path, rows_at
from synthkit.core.registry import register_stage
from synthkit.core.shards import Verdicts
from synthkit.core.stage import StageConfig, WholeStage

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

BATCH_ROWS = 10_000  # rows per Arrow record batch when reading the score column


def keep_count(n: int, fraction: float | None = None, k: int | None = None) -> int:
    """How many of ``n`` ranked rows to keep: ``ceil(fraction * n)`` or ``min(k, n)``."""
    if (fraction is None) == (k is None):
        raise ValueError("give exactly one of `fraction` or `k`")
    if k is not None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        return min(k, n)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    # the decimal as written: 0.07 * 100 is 7.000000000000001 in binary floats, and ceil would keep 8
    return math.ceil(Fraction(repr(float(fraction))) * n)


def rank(scores: Sequence[float], order: Literal["desc", "asc"] = "desc",
         ids: Sequence[Any] | None = None) -> "np.ndarray":
    """Positions of ``scores`` (an int64 array), best first; ties by ``str(id)``
    ascending, then by position. ``scores`` must be finite numbers (a
    ``ValueError`` otherwise); ``ids``, when given, has one entry per score."""
    import numpy as np

    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite numbers; filter the others out first")
    if order not in ("desc", "asc"):
        raise ValueError(f"order must be 'desc' or 'asc', got {order!r}")
    keys = [np.arange(len(s))]
    if ids is not None:
        if len(ids) != len(s):
            raise ValueError(f"{len(s)} scores but {len(ids)} ids")
        as_str = np.array([str(i) for i in ids], dtype=object)  # object: Python's str order, no padding
        keys.append(np.unique(as_str, return_inverse=True)[1].reshape(-1))
    keys.append(-s if order == "desc" else s)
    return np.lexsort(keys)  # the last key sorts first


def top_indices(scores: Sequence[float], fraction: float | None = None, k: int | None = None,
                order: Literal["desc", "asc"] = "desc", ids: Sequence[Any] | None = None) -> "np.ndarray":
    """Positions of the rows to keep, in input order (see ``rank`` and ``keep_count``)."""
    import numpy as np

    return np.sort(rank(scores, order, ids)[:keep_count(len(scores), fraction, k)])


@register_stage("select_top")
class SelectTop(WholeStage):
    """Keep the top fraction or top k rows by a score (ties by id); reject the rest with their rank."""

    reads, writes = (), ()  # reads the root column of `by`

    def columns_read(self) -> list:
        return [(self.config.by.split(".", 1)[0], f"by: {self.config.by}")]

    distributed = True  # map_shard reads (score, id) per shard; reduce_shards ranks them

    class Config(StageConfig):
        by: str = Field("scores.judge", description="dotted path to the score in each row")
        fraction: float | None = Field(None, gt=0, le=1, description="keep ceil(fraction * scored rows)")
        k: int | None = Field(None, ge=1, description="or keep this many rows")
        order: Literal["desc", "asc"] = Field("desc", description="desc: highest scores first")

        @field_validator("by")
        @classmethod
        def _path(cls, v: str) -> str:
            if not all(v.split(".")):
                raise ValueError(f"`by` is a dotted path such as scores.judge, got {v!r}")
            return v

        @model_validator(mode="after")
        def _one_size(self):
            if self.fraction is not None and self.k is not None:
                raise ValueError("set `fraction` or `k`, not both")
            if self.fraction is None and self.k is None:
                raise ValueError("set one of `fraction` (keep the top share) or `k` (keep the top k rows)")
            return self

    def process_all(self, dataset: Any) -> tuple[Any, list[Rejected]]:
        c = self.config
        parts = c.by.split(".")
        scores, ids = _arrow_scores(dataset, parts), _arrow_ids(dataset)
        kept, below, missing, why_below = self._select(scores, ids)
        rejected = [Rejected(row, "no_score", _why_no_score(row, c.by))
                    for row in rows_at(dataset, missing.tolist())]
        rejected += [Rejected(row, "below_top", why_below(p))
                     for p, row in zip(below.tolist(), rows_at(dataset, below.tolist()))]
        return dataset.select(kept), rejected

    def _select(self, scores: "np.ndarray", ids: list[str] | None):
        """(kept, below_top, no_score) input positions, each ascending, and the below_top detail."""
        import numpy as np

        c = self.config
        scored = np.flatnonzero(np.isfinite(scores))
        order = rank(scores[scored], c.order, [ids[i] for i in scored] if ids is not None else None)
        n_keep = keep_count(len(scored), c.fraction, c.k)
        kept = np.sort(scored[order[:n_keep]])
        rank_at = np.zeros(len(scores), dtype=np.int64)  # input position -> 1-based rank
        rank_at[scored[order]] = np.arange(1, len(scored) + 1)
        below = np.sort(scored[order[n_keep:]])  # input order, as the kept rows
        missing = np.flatnonzero(~np.isfinite(scores))
        log.info("select_top: kept %d of %d scored rows by %s (%s); %d had no score",
                 len(kept), len(scored), c.by, c.order, len(missing))

        def why_below(p: int) -> str:
            return f"{c.by} = {scores[p]:.6g}, rank {rank_at[p]} of {len(scored)}, keeping {n_keep}"
        return kept, below, missing, why_below

    def shard_columns(self) -> list[str]:
        return [self.config.by.split(".")[0], "id"]

    def map_shard(self, table: Any, offset: int) -> tuple[Any, list[str] | None, dict[int, str]]:
        """The scores and ids of one shard, as ``process_all`` reads them, and the detail
        of each row with no score (by input position)."""
        import datasets
        import numpy as np

        parts = self.config.by.split(".")
        shard = datasets.Dataset(table)
        scores = _arrow_scores(shard, parts)
        missing = np.flatnonzero(~np.isfinite(scores)).tolist()
        rows = rows_at(shard.select_columns([c for c in shard.column_names if c == parts[0]]), missing)
        details = {offset + p: _why_no_score(row, self.config.by) for p, row in zip(missing, rows)}
        return scores, _arrow_ids(shard), details

    def reduce_shards(self, source: Any, results: list[Any]) -> Verdicts:
        """The ranking of every shard's (score, id) pairs (8 bytes and an id a row)."""
        import numpy as np

        scores = np.concatenate([s for s, _, _ in results]) if results else np.zeros(0)
        has_ids = any(i is not None for _, i, _ in results)
        ids = [x for s, i, _ in results for x in (i if i is not None else [""] * len(s))] if has_ids else None
        no_score = {p: d for _, _, details in results for p, d in details.items()}
        kept, below, missing, why_below = self._select(scores, ids)
        verdicts = Verdicts({p: ("no_score", no_score[p], {}) for p in missing.tolist()})
        verdicts.rejected.update({p: ("below_top", why_below(p), {}) for p in below.tolist()})
        return verdicts


def _why_no_score(row: Row, by: str) -> str:
    v = get_path(row, by)
    return f"{by} is missing" if v is None else f"{by} = {v!r} is not a finite number"


def _arrow_scores(dataset: Any, parts: list[str]) -> "np.ndarray":
    """The ``by`` values of a ``datasets.Dataset`` as float64 (NaN: no score), read
    from Arrow one column and one record batch at a time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    out = np.full(len(dataset), np.nan)
    if parts[0] not in dataset.column_names:
        return out
    start = 0
    for batch in dataset.select_columns([parts[0]]).with_format("arrow").iter(batch_size=BATCH_ROWS):
        col, start = batch.column(0), start + batch.num_rows
        for p in parts[1:]:
            if not pa.types.is_struct(col.type) or col.type.get_field_index(p) < 0:
                break
            col = pc.struct_field(col, p)  # a null parent gives a null child
        else:
            t = col.type
            if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
                values = pc.cast(col, pa.float64(), safe=False).fill_null(np.nan)
                out[start - batch.num_rows:start] = values.to_numpy()
    return out


def _arrow_ids(dataset: Any) -> list[str] | None:
    if "id" not in dataset.column_names:
        return None
    out: list[str] = []
    for batch in dataset.select_columns(["id"]).with_format("arrow").iter(batch_size=BATCH_ROWS):
        out.extend("" if v is None else str(v) for v in batch.column(0).to_pylist())
    return out

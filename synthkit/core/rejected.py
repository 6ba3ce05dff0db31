"""Rejected rows on disk: one schema for every stage, so a glob over all stages loads.

Every ``<NN>_<stage>/rejected/<key>.parquet`` holds exactly four string columns:
``id``; ``rejected_by`` (``"<stage>:<reason>"``, the reason counted in stats.json);
``rejected_detail`` (free text for a human); ``row`` (a JSON object: every column of
the row as the stage saw it, plus what the stage added when dropping it). So
``datasets.load_dataset("parquet", data_files="runs/NAME/*/rejected/*.parquet")``
loads every stage's rejected rows together. The schema metadata key
``synthkit.rejected`` marks such a file; ``rundir``'s readers, ``synthkit show`` and
``synthkit export`` unpack it to flat rows (``{**row, rejected_by, rejected_detail}``).
Limit: values go through JSON, so a float NaN or bytes value comes back as text.
"""

from __future__ import annotations

import json
from typing import Any

from synthkit.core.record import Rejected, Row

MARK = b"synthkit.rejected"
COLUMNS = ("id", "rejected_by", "rejected_detail", "row")


def schema():
    import pyarrow as pa

    return pa.schema([(c, pa.string()) for c in COLUMNS], metadata={MARK: b"1"})


def pack(rejected: list[Rejected], stage: str):
    """The rejected rows of one job as an Arrow table in the one schema above."""
    import pyarrow as pa

    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for r in rejected:
        cols["id"].append(None if r.row.get("id") is None else str(r.row["id"]))
        cols["rejected_by"].append(f"{stage}:{r.reason}")
        cols["rejected_detail"].append(r.detail if isinstance(r.detail, str) else str(r.detail))
        cols["row"].append(json.dumps(r.row, ensure_ascii=False, default=str))
    return pa.Table.from_pydict(cols, schema=schema())


def is_packed(arrow_schema) -> bool:
    return bool(arrow_schema.metadata and MARK in arrow_schema.metadata)


def unpack(rows: list[Row]) -> list[Row]:
    """Packed rows (dicts with ``row`` JSON) -> flat rows with ``rejected_by`` and ``rejected_detail``."""
    out = []
    for r in rows:
        flat = json.loads(r["row"]) if r.get("row") else {"id": r.get("id")}
        out.append({**flat, "rejected_by": r.get("rejected_by"), "rejected_detail": r.get("rejected_detail")})
    return out


def reason_of(rejected_by: str | None) -> str:
    """``"generate:template_error"`` -> ``"template_error"``."""
    return (rejected_by or "").split(":", 1)[-1]

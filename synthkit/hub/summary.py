"""The numbers a data card shows, read from Arrow tables (no pandas, no row
dicts for whole columns): text lengths, score distributions, value counts of
struct fields, and compact formatting."""

from __future__ import annotations

import math
from typing import Any


def text_lengths(table) -> dict[str, list[int]]:
    import pyarrow.compute as pc

    out = {}
    for col in ("instruction", "response"):
        if col in table.column_names and is_text(table.column(col).type):
            out[col] = [v for v in pc.utf8_length(table.column(col)).to_pylist() if v is not None]
    return out


def score_values(table) -> tuple[dict[str, list[float]], list[str]]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if "scores" not in table.column_names or not is_struct(table.column("scores").type):
        return {}, []
    col = table.column("scores")
    numbers, text = {}, []
    for f in col.type:
        if pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_boolean(f.type):
            values = pc.struct_field(col, f.name).to_pylist()
            numbers[f.name] = [float(v) for v in values if v is not None]
        elif not pa.types.is_null(f.type):
            text.append(f.name)
    return numbers, text


def counts(table, column: str, *fields: str) -> dict[Any, int]:
    """Row counts per value of ``column.field`` (a tuple for several fields);
    empty when no field is present."""
    import pyarrow.compute as pc

    if column not in table.column_names or not is_struct(table.column(column).type):
        return {}
    names = {f.name for f in table.column(column).type}
    if not any(f in names for f in fields):
        return {}
    cols = [pc.struct_field(table.column(column), f).to_pylist() if f in names else [None] * table.num_rows
            for f in fields]
    found: dict[Any, int] = {}
    for key in zip(*cols):
        if all(k is None for k in key):
            continue
        key = key[0] if len(fields) == 1 else key
        found[key] = found.get(key, 0) + 1
    return dict(sorted(found.items(), key=lambda kv: (-kv[1], str(kv[0]))))


def stats_row(values: list[float]) -> str:
    if not values:
        return "0 | - | - | - | -"
    s = sorted(values)
    mid = len(s) // 2
    median = s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2
    return f"{len(s)} | {num(s[0])} | {num(median)} | {num(sum(s) / len(s))} | {num(s[-1])}"


def num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:.4g}"


def clip(v: Any, limit: int = 600) -> Any:
    if isinstance(v, str):
        return short(v, limit)
    if isinstance(v, list):
        return [clip(x, limit) for x in v[:10]] + (["..."] if len(v) > 10 else [])
    if isinstance(v, dict):
        return {k: clip(x, limit) for k, x in v.items()}
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def short(s: str, limit: int) -> str:
    return s if len(s) <= limit else s[:limit] + f"... ({len(s)} chars)"


def is_struct(t) -> bool:
    import pyarrow as pa

    return pa.types.is_struct(t)


def is_text(t) -> bool:
    import pyarrow as pa

    return pa.types.is_string(t) or pa.types.is_large_string(t)

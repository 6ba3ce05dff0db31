"""Rows to Arrow with one type per column, and shard schemas merged: the run folder's typing.

``rows_to_table(rows)`` types the schema columns of ``record.arrow_types`` as
declared and infers the rest. A value that does not fit its column's type (or a
column whose values have no common type) is stored as JSON text, never dropped;
each such column gets a note (column -> what was done) for the stage's stats.
``merged_schema`` gives one schema for tables written separately (shards), and
``cast_table`` casts a table to it. Parquet cannot hold a struct without fields,
so such a value is stored as text too.
"""

from __future__ import annotations

import json
from typing import Any

from synthkit.core.record import Row, arrow_types, conform_row


def rows_to_table(rows: list[Row]):
    """``rows`` as an Arrow table with one type per column, and the notes
    (column -> what was done) for values that did not fit. See the module doc."""
    import pyarrow as pa

    rows = [conform_row(r) for r in rows]
    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r))
    types, notes = arrow_types(), {}
    arrays = [_column([r.get(n) for r in rows], types.get(n), n, notes) for n in names]
    return pa.Table.from_arrays(arrays, names=list(names)), notes


def _column(values: list, want: Any, where: str, notes: dict[str, str]):
    import pyarrow as pa

    present = [v for v in values if v is not None and not (isinstance(v, dict) and not v)]
    if not present:
        return pa.nulls(len(values), want if isinstance(want, pa.DataType) else pa.null())
    if all(isinstance(v, dict) and all(isinstance(k, str) for k in v) for v in present) and (
            want is None or isinstance(want, dict)):
        return _struct(values, want or {}, where, notes)
    if isinstance(want, pa.DataType) and _fits(present, want):
        try:
            return pa.array(values, type=want)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError, ValueError):
            pass
    if isinstance(want, pa.DataType) and pa.types.is_string(want):  # a text column stays text
        kinds = sorted({type(v).__name__ for v in present if not isinstance(v, str)})
        notes[where] = f"{', '.join(kinds)} values stored as JSON text"
        return pa.array([_text(v) for v in values], type=pa.string())
    try:
        array = pa.array(values)
        if _writable(array.type):
            if want is not None:
                notes[where] = f"does not fit the schema ({_describe(want)}); stored as {array.type}"
            return array
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError, ValueError):
        pass
    kinds = sorted({type(v).__name__ for v in present})
    notes[where] = f"mixed types ({', '.join(kinds)}); stored as JSON text"
    return pa.array([_text(v) for v in values], type=pa.string())


def _struct(values: list, want: dict, where: str, notes: dict[str, str]):
    import pyarrow as pa

    keys: dict[str, None] = {}
    for v in values:
        if isinstance(v, dict):
            keys.update(dict.fromkeys(v))
    children = [_column([v.get(k) if isinstance(v, dict) else None for v in values],
                        want.get(k, want.get("*")), f"{where}.{k}", notes) for k in keys]
    mask = pa.array([not (isinstance(v, dict) and v) for v in values], type=pa.bool_())
    return pa.StructArray.from_arrays(children, names=list(keys), mask=mask)


def _fits(values: list, want) -> bool:
    """False where pyarrow would silently drop data (a struct key it does not know)."""
    import pyarrow as pa

    if pa.types.is_string(want):
        return all(isinstance(v, str) for v in values)
    if pa.types.is_list(want) and pa.types.is_struct(want.value_type):
        known = {f.name for f in want.value_type}
        return all(isinstance(v, list) and all(isinstance(x, dict) and set(x) <= known for x in v) for v in values)
    return True


def _writable(t) -> bool:
    """Parquet cannot store a struct without fields."""
    import pyarrow as pa

    if pa.types.is_struct(t):
        return t.num_fields > 0 and all(_writable(f.type) for f in t)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _writable(t.value_type)
    return not (pa.types.is_union(t) or pa.types.is_map(t))


def _describe(want: Any) -> str:
    return str(want) if not isinstance(want, dict) else "struct"


def _text(v: Any) -> str | None:
    return v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)


def merged_schema(schemas: list) -> tuple[Any, dict[str, str]]:
    """One schema the tables of ``schemas`` can all be cast to, and notes for
    columns whose types conflicted (they become text)."""
    import pyarrow as pa

    fields: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for schema in schemas:
        for f in schema:
            fields[f.name] = _merge(fields[f.name], f.type, f.name, notes) if f.name in fields else f.type
    return pa.schema(list(fields.items())), notes


def _merge(a, b, where: str, notes: dict[str, str]):
    import pyarrow as pa

    t = pa.types
    if a == b or t.is_null(b):
        return a
    if t.is_null(a):
        return b
    if t.is_struct(a) and t.is_struct(b):
        fields = {f.name: f.type for f in a}
        for f in b:
            fields[f.name] = _merge(fields[f.name], f.type, f"{where}.{f.name}", notes) if f.name in fields else f.type
        return pa.struct(list(fields.items()))
    if t.is_list(a) and t.is_list(b):
        return pa.list_(_merge(a.value_type, b.value_type, where, notes))
    numeric = (t.is_integer(a) or t.is_floating(a)) and (t.is_integer(b) or t.is_floating(b))
    if numeric:
        return pa.float64() if a != b else a
    if not (t.is_string(a) and t.is_large_string(b) or t.is_large_string(a) and t.is_string(b)):
        notes[where] = f"{a} in some shards, {b} in others; other values than text stored as JSON text"
    return pa.string()


def cast_table(table, schema):
    """``table`` cast to ``schema`` (from ``merged_schema``): missing columns as nulls,
    values of a conflicting type rewritten (text as JSON text)."""
    import pyarrow as pa

    arrays = []
    for f in schema:
        if f.name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, f.type))
            continue
        col = table.column(f.name)
        if col.type == f.type:
            arrays.append(col)
        else:
            arrays.append(pa.array([_coerce(v, f.type) for v in col.to_pylist()], type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _coerce(v: Any, t) -> Any:
    import pyarrow as pa

    if v is None:
        return None
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _text(v)
    if pa.types.is_struct(t) and isinstance(v, dict):
        return {f.name: _coerce(v.get(f.name), f.type) for f in t}
    if pa.types.is_list(t) and isinstance(v, list):
        return [_coerce(x, t.value_type) for x in v]
    return v

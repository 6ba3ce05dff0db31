"""Benchmarks to decontaminate against, loaded into one shape: ``BenchmarkItem``.

``load_benchmark(name, path)`` reads a set through ``synthkit.data.tasksets.load_set``:
a known name (``humaneval``, ``mbpp``, ``apps``, ``ds1000``, ``bundled:test``, ...),
``hub:<id>[:split]``, or a local file. A known name with a ``path`` reads that local
copy with the name's fields. Without network a Hub name fails with a ``DataError``.

Fields: ``prompt_fields`` / ``solution_fields`` / ``id_field`` when given, else those
of the rows' format (``tasksets.FORMATS``), else the first present common name.

An item keeps its ``prompt``, its ``solutions`` as given, and ``programs``: complete
code to normalise (an indented solution is a body, appended to the prompt). At most
``max_solutions`` solutions per item are kept.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from synthkit.data.tasksets import FORMATS, load_set
from synthkit.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class BenchmarkItem:
    benchmark: str
    item_id: str
    prompt: str
    solutions: list[str] = field(default_factory=list)
    programs: list[str] = field(default_factory=list)


_PROMPT_GUESS = ("prompt", "question", "text", "instruction", "description", "problem")
_SOLUTION_GUESS = ("canonical_solution", "solution", "solutions", "code", "reference_code", "response")
_ID_GUESS = ("task_id", "id", "problem_id")


def _strings(value: Any) -> list[str]:
    """A field as a list of strings (APPS stores solutions as a JSON list)."""
    if value is None:
        return []
    if isinstance(value, str):
        if value.startswith("[") and value.endswith("]"):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError:
                return [value] if value.strip() else []
            return [s for s in parsed if isinstance(s, str) and s.strip()]
        return [value] if value.strip() else []
    if isinstance(value, (list, tuple)):
        return [s for s in value if isinstance(s, str) and s.strip()]
    return [str(value)]


def _get(rec: dict[str, Any], name: str) -> Any:
    """``rec[name]``; for a missing ``a.b``, field ``b`` of the dict (or JSON object) in ``a``."""
    if name in rec or "." not in name:
        return rec.get(name)
    outer, inner = name.split(".", 1)
    value = rec.get(outer)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return value.get(inner) if isinstance(value, dict) else None


def to_items(records: Iterable[dict[str, Any]], benchmark: str, prompt_fields: Iterable[str],
             solution_fields: Iterable[str], id_field: str = "", max_solutions: int = 5) -> list[BenchmarkItem]:
    prompt_fields, solution_fields = list(prompt_fields), list(solution_fields)
    items = []
    for i, rec in enumerate(records):
        prompt = "\n".join(s for f in prompt_fields for s in _strings(rec.get(f)))
        sols = [s for f in solution_fields for s in _strings(rec.get(f))][:max_solutions]
        programs = [prompt + s if s.lstrip("\r\n")[:1] in (" ", "\t") else s for s in sols]
        got = _get(rec, id_field) if id_field else None
        item_id = str(got) if got is not None else str(i)
        items.append(BenchmarkItem(benchmark, item_id, prompt, sols, programs))
    return items


def _guess(fields: Iterable[str], present: dict[str, Any], what: str, where: str) -> tuple[str, ...]:
    found = tuple(f for f in fields if f in present)
    if not found:
        raise DataError(f"{where}: no {what} field; set `{what}_fields` (the file has: {', '.join(present)})")
    return found[:1]


def load_benchmark(name: str | None = None, path: str | Path | None = None, prompt_fields=None,
                   solution_fields=None, id_field: str | None = None, max_solutions: int = 5) -> list[BenchmarkItem]:
    """Items of one benchmark (see the module doc)."""
    found = load_set(name, path, what="benchmark file")
    if not found.rows:
        return []
    fmt = FORMATS.get(found.format or "")
    first = found.rows[0]
    pf = tuple(prompt_fields or ()) or (fmt.prompt_fields if fmt else _guess(_PROMPT_GUESS, first, "prompt", found.where))
    sf = tuple(solution_fields or ()) or (fmt.solution_fields if fmt else
                                          _guess(_SOLUTION_GUESS, first, "solution", found.where))
    idf = id_field if id_field is not None else (fmt.id_field if fmt else next((f for f in _ID_GUESS if f in first), ""))
    items = to_items(found.rows, found.name, pf, sf, idf, max_solutions)
    log.info("benchmark %s: %d items (%s format)", found.name, len(items), found.format or "guessed")
    return items

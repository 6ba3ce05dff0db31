"""The row schema: what a row of a synthkit dataset holds.

A row is a plain ``dict`` of JSON-compatible values. Stages add columns and never
rename them. The columns of ``COLUMNS`` have fixed meanings (``MEANINGS``) and, once
stored, one Arrow type each (``arrow_types``): ``id`` (unique within a stage's output;
a derived row gets ``"<parent id>/<suffix>"``), ``seed``, ``instruction``,
``response``, ``code``, ``tests`` (an assert block), ``io_tests`` (stdin/stdout
cases), ``entry_point``, ``messages`` (the SFT view the trainer reads), ``scores``,
``verify``, ``meta`` (provenance). Other columns travel through untouched.
``conform_row`` stores any accepted ``tests`` style (``test_forms``) as an assert
block in ``tests`` or cases in ``io_tests``. A value that does not fit its type is
stored as JSON text (``core.arrow``). Dropped rows go to ``rejected/`` with
``rejected_by = "<stage>:<reason>"``. The full table: docs/pipelines.md#the-row-schema.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:
    import datasets

Row = dict[str, Any]

COLUMNS = ("id", "seed", "instruction", "response", "code", "tests", "io_tests", "entry_point",
           "messages", "scores", "verify", "meta")
TEXT_COLUMNS = ("id", "seed", "instruction", "response", "code", "tests", "entry_point")
# What each schema column means, for data cards and docs (the table above, in one line each).
COLUMN_DOCS = {
    "id": "stable, unique row id; a row derived from another is `<parent id>/<suffix>`",
    "seed": "the seed text (code snippet or task) the row grew from",
    "instruction": "the problem statement shown to the model",
    "response": "the model's answer (prose and/or code)",
    "code": "code extracted from `response`",
    "tests": "an assert block (HumanEval/MBPP style); null where `io_tests` holds the tests",
    "io_tests": "stdin/stdout cases (APPS style); null where `tests` holds the tests",
    "entry_point": "the function the tests call (`check(candidate)`)",
    "messages": "the SFT view, a list of {role, content}; the trainer reads this column and nothing else",
    "scores": "aspect -> score (judge, verify_tests, ...); null where a row lacks that aspect",
    "verify": "what verify_tests found: status, pass_rate, passed, duration_s, tests_passed, tests_total, "
              "the sandbox's detail and the end of the program's stdout and stderr",
    "meta": "provenance: stage, model, checkpoint, sampling parameters, seed source",
    "synthesis": "the synthesis sample as the synthesizer saw it: style, prompt (chat turns), raw answer; SCoder's "
                 "rounds train the synthesizer on it",
    "rejected_by": "`<stage>:<reason>` of a dropped row (rejected/ shards only)",
    "rejected_detail": "free text on why the row was dropped (rejected/ shards only)",
}


@dataclass
class Rejected:
    """A dropped row and why. ``reason`` is a short snake_case word (it is
    counted in the stats); ``detail`` is free text for a human."""

    row: Row
    reason: str
    detail: str = ""


@dataclass
class Funnel:
    """Counts for one job (a (pass, shard) of work): rows in, kept, dropped per reason, tokens.

    ``tokens_generated`` counts the completion tokens of the answers the stage
    used, cached ones included; ``requests``, ``cache_hits``, ``prompt_tokens``
    and ``completion_tokens`` are its LLMs' usage (``synthkit.llm.usage``):
    prompts asked, answered from the cache, and tokens the backend processed."""

    rows_in: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    tokens_generated: int = 0
    seconds: float = 0.0
    notes: dict[str, str] = field(default_factory=dict)  # column -> how its values were stored
    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, other: "Funnel") -> None:
        for name in _SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, n in other.dropped.items():
            self.dropped[reason] = self.dropped.get(reason, 0) + n
        for column, note in other.notes.items():
            self.notes.setdefault(column, note)

    def count(self, rejected: Iterable[Rejected]) -> None:
        """Add each rejected row to ``dropped`` under its reason."""
        for r in rejected:
            self.dropped[r.reason] = self.dropped.get(r.reason, 0) + 1

    def add_usage(self, usage: Any) -> None:
        """Add an ``llm.usage.Usage`` (or its dict)."""
        d = usage if isinstance(usage, dict) else usage.to_dict()
        for name in _USAGE:
            setattr(self, name, getattr(self, name) + int(d.get(name, 0)))

    def to_dict(self) -> dict[str, Any]:
        out = {"rows_in": self.rows_in, "kept": self.kept,
               "dropped": dict(sorted(self.dropped.items())),
               "tokens_generated": self.tokens_generated, "seconds": round(self.seconds, 4),
               **{name: getattr(self, name) for name in _USAGE}}
        if self.notes:
            out["notes"] = dict(sorted(self.notes.items()))
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Funnel":
        return cls(rows_in=d.get("rows_in", 0), kept=d.get("kept", 0), dropped=dict(d.get("dropped", {})),
                   tokens_generated=d.get("tokens_generated", 0), seconds=d.get("seconds", 0.0),
                   notes=dict(d.get("notes", {})), **{name: d.get(name, 0) for name in _USAGE})


_USAGE = ("requests", "cache_hits", "prompt_tokens", "completion_tokens")
_SUMMED = ("rows_in", "kept", "tokens_generated", "seconds") + _USAGE


def stable_id(row: Row) -> str:
    """A content hash of ``row``: the same row always gets the same id."""
    blob = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def assign_ids(rows: list[Row]) -> list[Row]:
    """Give each row ``stable_id`` of its content; exact duplicates get -1, -2…"""
    seen: dict[str, int] = {}
    out = []
    for r in rows:
        sid = stable_id(r)
        k = seen.get(sid, 0)
        seen[sid] = k + 1
        out.append({"id": sid if k == 0 else f"{sid}-{k}", **r})
    return out


def child(parent: Row, suffix: str | int, **columns: Any) -> Row:
    """A row derived from ``parent``: its columns, a derived id, and ``columns``."""
    row = dict(parent)
    row["id"] = f"{parent['id']}/{suffix}"
    row.update(columns)
    return row


def with_meta(row: Row, **meta: Any) -> Row:
    """Return ``row`` with ``meta`` updated (a new dict; the input is not mutated)."""
    merged = dict(row.get("meta") or {})
    merged.update(meta)
    return {**row, "meta": merged}


def arrow_types() -> dict[str, Any]:
    """The stored type of each schema column (the table in the module doc).
    A ``pyarrow.DataType``, or for a struct column a dict of field -> type, where
    ``"*"`` types every other field and fields not named are inferred."""
    import pyarrow as pa

    s = pa.string()
    types: dict[str, Any] = {c: s for c in TEXT_COLUMNS}
    types["io_tests"] = pa.list_(pa.struct([("input", s), ("output", s)]))
    types["messages"] = pa.list_(pa.struct([("role", s), ("content", s)]))
    types["scores"] = {"*": pa.float64()}
    types["verify"] = {"status": s, "pass_rate": pa.float64(), "passed": pa.bool_(), "duration_s": pa.float64(),
                       "tests_passed": pa.int64(), "tests_total": pa.int64(), "detail": s, "stdout": s, "stderr": s}
    types["meta"] = {"stage": s, "model": s, "checkpoint": s}
    return types


def get_path(row: Any, path: str) -> Any:
    """The value at a dotted ``path`` (``scores.judge`` reads ``row["scores"]["judge"]``);
    None where a key is missing or a step is not a dict."""
    for part in path.split("."):
        if not isinstance(row, dict) or part not in row:
            return None
        row = row[part]
    return row


def rows_at(dataset: "datasets.Dataset", positions: Sequence[int]) -> list[Row]:
    """The rows of a ``datasets.Dataset`` at ``positions`` (in that order), as dicts."""
    return dataset.select(list(positions)).to_list() if len(positions) else []


def test_forms(value: Any) -> tuple[str | None, list[dict[str, str]] | None]:
    """A ``tests`` value in any accepted style -> ``(assert block, io cases)``;
    at most one is not None. See the module doc for the styles."""
    if value is None or isinstance(value, str):
        return value, None
    if isinstance(value, dict) and isinstance(value.get("inputs"), list) and isinstance(value.get("outputs"), list):
        value = [{"input": i, "output": o} for i, o in zip(value["inputs"], value["outputs"])]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "\n".join(value) + "\n", None
    if isinstance(value, list) and all(isinstance(c, dict) and {"input", "output"} <= set(c) for c in value):
        return None, [{"input": _case_text(c["input"]), "output": _case_text(c["output"])} for c in value]
    return json.dumps(value, ensure_ascii=False, default=str), None  # unknown shape: kept, as text


def _case_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def conform_row(row: Row) -> Row:
    """``row`` with its tests in the stored representation (a new dict when changed)."""
    tests = row.get("tests")
    if tests is None or isinstance(tests, str):
        return row
    block, cases = test_forms(tests)
    out = {**row, "tests": block}
    if cases is not None:
        out["io_tests"] = cases
    return out


def row_tests(row: Row) -> str | list[dict[str, str]] | None:
    """What a reader should run: the assert block, else the io cases, else None."""
    tests = row.get("tests")
    if isinstance(tests, str) and tests.strip():
        return tests
    if tests is not None and not isinstance(tests, str):  # a row not yet stored
        block, cases = test_forms(tests)
        return block if block is not None else cases
    cases = row.get("io_tests")
    return cases if isinstance(cases, list) and cases else None

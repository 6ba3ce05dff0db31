"""The row schema: what a row of a synthkit dataset holds.

A row is a plain ``dict`` whose values are JSON-compatible (str, int, float,
bool, None, lists and dicts of those). Stages add columns; they never rename
them. The columns below have fixed meanings; any other column is allowed and
travels through untouched.

===============  ============================================================
column           meaning
===============  ============================================================
``id``           str, stable and unique within a stage's output. A row derived
                 from another gets ``"<parent id>/<suffix>"``.
``seed``         str, the seed text the row grew from (a snippet, a task).
``instruction``  str, the problem statement shown to the model.
``response``     str, the model's answer (prose and/or fenced code).
``code``         str, code extracted from ``response``.
``tests``        str (an assert block) or list of ``{"input", "output"}``.
``entry_point``  str, function name for ``check(candidate)``-style tests.
``messages``     list of ``{"role", "content"}``: the SFT view. The trainer
                 reads this column and nothing else.
``scores``       dict of aspect -> float (judge, influence, perplexity, ...).
``verify``       dict with ``status``, ``pass_rate``, ``duration_s``.
``meta``         dict of provenance: ``stage``, ``model``, ``checkpoint``,
                 sampling parameters, ``seed`` (the RNG seed).
===============  ============================================================

Dropped rows are written to the stage's ``rejected/`` folder with one more
column, ``rejected_by = "<stage>:<reason>"`` (and ``rejected_detail``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]

COLUMNS = ("id", "seed", "instruction", "response", "code", "tests", "entry_point",
           "messages", "scores", "verify", "meta")


@dataclass
class Rejected:
    """A dropped row and why. ``reason`` is a short snake_case word (it is
    counted in the stats); ``detail`` is free text for a human."""

    row: Row
    reason: str
    detail: str = ""


@dataclass
class Funnel:
    """Counts for one unit of work: rows in, kept, dropped per reason, tokens."""

    rows_in: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    tokens_generated: int = 0
    seconds: float = 0.0

    def add(self, other: "Funnel") -> None:
        self.rows_in += other.rows_in
        self.kept += other.kept
        self.tokens_generated += other.tokens_generated
        self.seconds += other.seconds
        for reason, n in other.dropped.items():
            self.dropped[reason] = self.dropped.get(reason, 0) + n

    def to_dict(self) -> dict[str, Any]:
        return {"rows_in": self.rows_in, "kept": self.kept,
                "dropped": dict(sorted(self.dropped.items())),
                "tokens_generated": self.tokens_generated, "seconds": round(self.seconds, 4)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Funnel":
        return cls(d.get("rows_in", 0), d.get("kept", 0), dict(d.get("dropped", {})),
                   d.get("tokens_generated", 0), d.get("seconds", 0.0))


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

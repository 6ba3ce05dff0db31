"""The diversity report of GiFT, RFT and RFT+RD data: how many different passing codes and descriptions per task.

``diversity_report(rows, task_ids)`` reads a sampling stage's rows
(``gibbs_resample``, ``rft_sample``, ``perplexity_select``) and returns ``tasks``,
``solved_tasks``, ``coverage`` (solved / tasks), ``passing_codes``,
``distinct_codes``, the per-task means and ``per_task``. A row belongs to
``meta.task_id``; ``task_ids`` counts tasks without rows as unsolved. Passing codes
have ``verify.passed`` (seed rows never count); distinct codes compare
``dedup.codenorm.code_tokens`` (a renamed or reformatted copy counts once);
distinct descriptions compare ``instruction`` / ``meta.description`` after folding
whitespace and case. ``sampled_from`` adds the descriptions a method sampled from,
passing or not. Per-task means are over all tasks. Details: docs/evaluation.md.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from synthkit.dedup.codenorm import code_tokens


def _norm_text(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def diversity_report(rows: Iterable[dict[str, Any]], task_ids: Iterable[str] = (),
                     sampled_from: Iterable[tuple[str, str]] | None = None) -> dict[str, Any]:
    tasks: dict[str, dict[str, Any]] = {t: {"passing": 0, "codes": set(), "descriptions": set()} for t in task_ids}
    for row in rows:
        meta = row.get("meta") or {}
        task = str(meta.get("task_id") or row.get("id"))
        entry = tasks.setdefault(task, {"passing": 0, "codes": set(), "descriptions": set()})
        for text in (row.get("instruction"), meta.get("description")):
            if isinstance(text, str) and text.strip():
                entry["descriptions"].add(_norm_text(text))
        if meta.get("origin") == "seed" or not (row.get("verify") or {}).get("passed"):
            continue
        code = row.get("code")
        if isinstance(code, str) and code.strip():
            entry["passing"] += 1
            entry["codes"].add(tuple(code_tokens(code)))
    n = len(tasks)
    sampled: dict[str, set[str]] = {t: set() for t in tasks}
    for task, text in sampled_from or ():
        if isinstance(text, str) and text.strip():
            sampled.setdefault(str(task), set()).add(_norm_text(text))
    solved = sum(1 for e in tasks.values() if e["passing"])
    distinct = sum(len(e["codes"]) for e in tasks.values())
    extra = ({"sampled_descriptions_per_task": round(sum(map(len, sampled.values())) / n, 4) if n else 0.0}
             if sampled_from is not None else {})
    return {"tasks": n, "solved_tasks": solved, "coverage": round(solved / n, 4) if n else 0.0,
            "passing_codes": sum(e["passing"] for e in tasks.values()), "distinct_codes": distinct,
            "distinct_codes_per_task": round(distinct / n, 4) if n else 0.0,
            "distinct_descriptions_per_task":
                round(sum(len(e["descriptions"]) for e in tasks.values()) / n, 4) if n else 0.0, **extra,
            "per_task": {t: {"passing_codes": e["passing"], "distinct_codes": len(e["codes"]),
                             "distinct_descriptions": len(e["descriptions"])} for t, e in sorted(tasks.items())}}


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The report without its per-task table (what stats and logs show)."""
    return {k: v for k, v in report.items() if k != "per_task"}

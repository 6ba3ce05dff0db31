"""The run's accounting: per-stage throughput, totals, and the end-of-run table.

A stage's ``stats.json`` (and its entry in ``report.json``) holds the funnel
(``rows_in``, ``kept``, ``dropped`` per reason, ``seconds`` of stage work) and
its LLM usage (``requests``, ``cache_hits``, ``prompt_tokens``,
``completion_tokens``: see ``synthkit.llm.usage``). ``report.json`` adds
``totals``, the sums over stages. ``summary_table(report)`` renders both as
the plain-text table ``synthkit run`` prints when it ends.
"""

from __future__ import annotations

from typing import Any

from synthkit.core.record import Funnel

USAGE_KEYS = ("requests", "cache_hits", "prompt_tokens", "completion_tokens")


def throughput(funnel: Funnel, llm: Any) -> float | None:
    """Generated tokens per second of stage time; None where there is nothing to
    measure: no tokens generated in this run (all cached, or no LLM), or the
    dummy backend, whose speed means nothing."""
    if not funnel.completion_tokens or not funnel.seconds or (llm is not None and llm.backend == "dummy"):
        return None
    return round(funnel.completion_tokens / funnel.seconds, 2)


def totals(stages: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums over the stages' stats: usage, seconds, and drops per ``stage:reason``."""
    out: dict[str, Any] = {k: sum(int(s.get(k, 0) or 0) for s in stages) for k in USAGE_KEYS}
    out["seconds"] = round(sum(float(s.get("seconds", 0) or 0) for s in stages), 3)
    out["dropped"] = sum(sum((s.get("dropped") or {}).values()) for s in stages)
    return out


def summary_table(report: dict[str, Any]) -> str:
    """The end-of-run table: one line per stage (rows in and out, drops by reason,
    tokens, cache hits, seconds), a total line, and the rows of the dataset."""
    head = ("stage", "in", "out", "prompt tok", "compl tok", "cache hits", "seconds", "dropped")
    lines = []
    for s in report.get("stages", []):
        drops = ", ".join(f"{r} {n}" for r, n in sorted((s.get("dropped") or {}).items(), key=lambda x: -x[1]))
        lines.append((f"{s.get('index', 0):02d} {s.get('stage', '?')}", str(s.get("rows_in", 0)), str(s.get("kept", 0)),
                      _n(s.get("prompt_tokens")), _n(s.get("completion_tokens")),
                      _hits(s.get("cache_hits"), s.get("requests")), f"{float(s.get('seconds', 0) or 0):.1f}",
                      drops or "-"))
    t = report.get("totals") or totals(report.get("stages", []))
    lines.append(("total", "", str(report.get("rows_out", "")), _n(t["prompt_tokens"]), _n(t["completion_tokens"]),
                  _hits(t["cache_hits"], t["requests"]), f"{t['seconds']:.1f}", str(t["dropped"])))
    widths = [max(len(r[i]) for r in [head, *lines]) for i in range(len(head) - 1)]

    def fmt(row: tuple[str, ...]) -> str:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:-1], widths[1:])]
        return "  ".join(cells + [row[-1]]).rstrip()

    rule = "-" * len(fmt(head))
    return "\n".join([fmt(head), rule, *map(fmt, lines[:-1]), rule, fmt(lines[-1])])


def _n(value: Any) -> str:
    return f"{int(value or 0):,}"


def _hits(hits: Any, requests: Any) -> str:
    return f"{int(hits or 0)}/{int(requests or 0)}" if requests else "-"

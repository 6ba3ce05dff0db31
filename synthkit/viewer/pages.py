"""The funnel page (``/``) and the row browser (``/rows``), as HTML strings.

Each drop reason on the funnel links to ``/rows?stage=KEY&reason=R``; the row
browser's form submits with GET, so every view is a URL that can be shared.
"""

from __future__ import annotations

from typing import Any

from synthkit.viewer.html import esc, field, link, number, page, raw_table, row_url, select, snippet, table, url
from synthkit.viewer.query import Page, Query
from synthkit.viewer.source import RunSource


def funnel_page(source: RunSource) -> str:
    stages = source.funnel()
    most = max([max(s.get("rows_in") or 0, s.get("kept") or 0) for s in stages] + [1])
    rows = []
    for s in stages:
        key = s.get("key")
        name = link(url("/rows", {"stage": key}), s["stage"]) if key else esc(s["stage"])
        drops = " ".join(
            f'<span class="reason">{link(url("/rows", {"stage": key, "reason": r}), r) if key else esc(r)}'
            f' <span class="muted">{number(n)}</span></span>'
            for r, n in sorted((s.get("dropped") or {}).items(), key=lambda kv: -kv[1]))
        if key and s.get("dropped"):
            drops += " " + link(url("/rows", {"stage": key, "reason": "*"}), "all dropped", "muted")
        kept = s.get("kept", 0) or 0
        bar = f'<meter min="0" max="{most}" value="{kept}"></meter>'
        rows.append([esc(s.get("index", "")), name + (' <span class="muted">(running)</span>' if s.get("running")
                                                       else ""),
                     number(s.get("rows_in")), f"{number(kept)} {bar}", drops or '<span class="muted">none</span>',
                     number(s.get("seconds")), number(s.get("tokens_generated"))])
    body = f'<p class="muted">{esc(source.kind)} folder {esc(source.root)}</p>'
    body += "<h2>Funnel</h2>" + table(["#", "stage", "rows in", "kept", "dropped (by reason)", "seconds", "tokens"],
                                      rows, "funnel")
    body += _report(source.report())
    plots = source.plots()
    if plots:
        body += "<h2>Card plots</h2>" + "".join(
            f'<img class="plot" src="{url("/plots/" + p)}" alt="{esc(p)}">' for p in plots)
    if source.card_text() is not None:
        body += "<p>" + link(url("/card"), "the data card (README.md)") + "</p>"
    return page(f"Run {source.report().get('name') or source.root.name}", body)


def _report(report: dict[str, Any]) -> str:
    if not report:
        return ""
    keys = ("name", "seed", "fingerprint", "rows_out", "seconds", "iterations")
    pairs = [(k, report[k]) for k in keys if k in report]
    cells = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs)
    return f'<h2>Run report</h2><table class="kv report"><tbody>{cells}</tbody></table>'


def rows_page(source: RunSource, q: Query, result: Page) -> str:
    stage_key = result.stage.key if result.stage else None
    body = _form(source, q, result)
    shown = len(result.rows)
    if shown:
        of = f"{number(result.total)}" if result.total is not None else f"more than {number(result.offset + shown)}"
        body += f'<p class="count">rows {result.offset + 1}–{result.offset + shown} of {of}</p>'
    else:
        body += '<p class="count">no rows match</p>'
    if result.legacy:
        body += '<p class="muted">this folder also has legacy .jsonl shards, which are not shown</p>'
    scores = result.score_names[:10]
    head = ["id", "instruction", "checkpoint", "sandbox"] + [_sort_link(q, s) for s in scores]
    if result.rejected:
        head.append("dropped by")
    rows = []
    for r in result.rows:
        meta, verify, sc = r.get("meta") or {}, r.get("verify") or {}, r.get("scores") or {}
        cells = [link(row_url(r.get("id") or "", stage_key, result.rejected), r.get("id")),
                 snippet(r.get("instruction")), esc(meta.get("checkpoint")), esc(verify.get("status"))]
        cells += [number(sc.get(s)) for s in scores]
        if result.rejected:
            cells.append(_dropped(r, stage_key))
        rows.append(cells)
    body += raw_table([esc(h) if i < 4 else h for i, h in enumerate(head)], rows, "rows")
    pager = []
    if q.page > 1:
        pager.append(link(url("/rows", q.params(page=q.page - 1)), "‹ previous", "prev"))
    if result.has_next:
        pager.append(link(url("/rows", q.params(page=q.page + 1)), "next ›", "next"))
    body += f'<p class="pager">{"".join(pager)}</p>'
    where = result.stage.key if result.stage else "final rows"
    what = (f"dropped: {q.reason}" if q.reason and q.reason != "*" else "all dropped") if result.rejected else "kept"
    return page(f"Rows · {where} · {what}", body)


def _dropped(r: dict[str, Any], stage_key: str | None) -> str:
    out = esc(r.get("rejected_by"))
    if r.get("dup_cluster") is not None:
        out += " " + link(url("/cluster", {"stage": stage_key, "n": r["dup_cluster"]}), "cluster", "cluster")
    if (r.get("rejected_by") or "").endswith(":contaminated"):
        out += " " + link(url(f"/match/{r.get('id')}", {"stage": stage_key}), "match", "match")
    detail = r.get("rejected_detail")
    return out + (f'<br><span class="muted">{snippet(detail, 120)}</span>' if detail else "")


def _sort_link(q: Query, score: str) -> str:
    order = "asc" if q.sort == score and q.order == "desc" else "desc"
    arrow = {"desc": " ▼", "asc": " ▲"}[q.order] if q.sort == score else ""
    return link(url("/rows", q.params(sort=score, order=order, page=1)), score + arrow, "sort")


def _form(source: RunSource, q: Query, result: Page) -> str:
    stages = [("", "final rows")] + [(s.key, s.key) for s in source.stages]
    stage_key = result.stage.key if result.stage and q.stage else ""
    funnel = {s.get("key"): s for s in source.funnel()}
    reasons = sorted((funnel.get(stage_key) or {}).get("dropped") or {})
    reason_opts = [("", "kept rows"), ("*", "all dropped rows")] + [(r, f"dropped: {r}") for r in reasons]
    scores = [("", "—")] + [(s, s) for s in result.score_names]
    parts = [
        _box("stage", select("stage", stages, stage_key)),
        _box("rows", select("reason", reason_opts, q.reason or "")),
        field("q", q.q, "search text"),
        _box("score", select("score", scores, q.score)),
        field("min", "" if q.min is None else q.min, "min"),
        field("max", "" if q.max is None else q.max, "max"),
        field("checkpoint", q.checkpoint or "", "checkpoint"),
        _box("sandbox", select("passed", [("", "any"), ("1", "passed"), ("0", "failed")],
                                 "" if q.passed is None else ("1" if q.passed else "0"))),
        _box("sort by", select("sort", scores, q.sort)),
        _box("order", select("order", [("desc", "best first"), ("asc", "worst first")], q.order)),
    ]
    boxes = "".join(p if p.startswith("<span") else f'<span class="f">{p}</span>' for p in parts)
    return f'<form class="filters" method="get" action="/rows">{boxes}<button type="submit">apply</button></form>'


def _box(label: str, control: str) -> str:
    name = control.split('name="', 1)[1].split('"', 1)[0]
    return f'<span class="f"><label for="f-{esc(name)}">{esc(label)}</label>{control}</span>'


def error_page(message: str, status: int) -> str:
    return page("Not found" if status == 404 else "Bad request", f'<p class="error">{esc(message)}</p>')


def card_page(source: RunSource) -> str:
    return page("Data card", f'<pre class="prose">{esc(source.card_text() or "")}</pre>')

"""One row (``/row/ID``), a duplicate cluster (``/cluster``) and a contamination match (``/match/ID``)."""

from __future__ import annotations

from typing import Any

from synthkit.viewer.html import code, esc, kv, link, marked, page, prose, row_url, snippet, table, url
from synthkit.viewer.lookup import Found, shared_spans
from synthkit.viewer.source import RunSource

SHOWN = {"id", "instruction", "response", "code", "tests", "io_tests", "scores", "verify", "meta", "seed",
         "messages", "rejected_by", "rejected_detail", "dup_cluster", "dup_of", "contamination",
         "contamination_items", "entry_point"}


def row_page(source: RunSource, found: Found) -> str:
    r, key = found.row, found.stage.key if found.stage else None
    status = (f'<p class="status rejected">dropped by {esc(r.get("rejected_by"))}: {esc(r.get("rejected_detail"))}'
              "</p>" if found.rejected else f'<p class="status kept">kept by {esc(key or "the final stage")}</p>')
    links = []
    if r.get("dup_cluster") is not None:
        links.append(link(url("/cluster", {"stage": key, "n": r["dup_cluster"]}), "duplicate cluster", "cluster"))
        if r.get("dup_of"):
            links.append(link(row_url(r["dup_of"], key, False), f"kept row {r['dup_of']}"))
    if r.get("contamination"):
        links.append(link(url(f"/match/{r.get('id')}", {"stage": key}), "benchmark match", "match"))
    body = status + (f'<p class="links">{" · ".join(links)}</p>' if links else "")
    body += _section("Instruction", prose(r.get("instruction")), r.get("instruction"))
    body += _section("Response", prose(r.get("response")), r.get("response"))
    body += _section("Code", code(r.get("code")), r.get("code"))
    body += _section("Tests", code(r.get("tests")), r.get("tests"))
    if r.get("io_tests"):
        body += "<h2>Tests (stdin / stdout)</h2>" + table(
            ["input", "expected output"], [[prose(c.get("input")), prose(c.get("output"))] for c in r["io_tests"]])
    body += _scores(r)
    body += _sandbox(r, found.rejected)
    body += _provenance(r)
    body += _trace(source, r)
    rest = [(k, v) for k, v in r.items() if k not in SHOWN and v is not None]
    if rest:
        body += "<h2>Other columns</h2>" + kv(rest)
    return page(f"Row {r.get('id')}", body, [(url("/rows", {"stage": key}), key or "final")])


def _section(title: str, rendered: str, raw: Any) -> str:
    return f"<h2>{esc(title)}</h2>{rendered}" if raw not in (None, "") else ""


def _scores(r: dict[str, Any]) -> str:
    scores = {k: v for k, v in (r.get("scores") or {}).items() if v is not None}
    return "<h2>Scores</h2>" + kv(sorted(scores.items())) if scores else ""


def _sandbox(r: dict[str, Any], rejected: bool) -> str:
    verify = {k: v for k, v in (r.get("verify") or {}).items() if v is not None}
    if not verify:
        return ""
    streams = {k: verify.pop(k) for k in ("stdout", "stderr") if k in verify}
    out = f'<h2>Sandbox</h2><div class="sandbox">{kv(verify.items())}'
    for name, text in streams.items():
        if text:
            out += f"<h3>{name}</h3>" + code(text, lang=False)
    if rejected and (r.get("rejected_by") or "").startswith("verify_tests:"):
        out += "<h3>Output</h3>" + prose(r.get("rejected_detail"))
    return out + "</div>"


def _provenance(r: dict[str, Any]) -> str:
    meta = {k: v for k, v in (r.get("meta") or {}).items() if v is not None}
    out = "<h2>Provenance</h2>" + kv(sorted(meta.items())) if meta else ""
    if r.get("seed"):
        out += "<h3>Seed</h3>" + code(r["seed"])
    return out


def _trace(source: RunSource, r: dict[str, Any]) -> str:
    meta = r.get("meta") or {}
    if not meta.get("task_id"):
        return ""
    steps = source.trace(str(meta["task_id"]), meta.get("checkpoint_index"))
    if not steps:
        return ""
    rows = []
    for t in steps:
        rows.append([esc(t.get("step")), prose(t.get("description")), esc(t.get("samples")), esc(t.get("passing")),
                     esc(t.get("kept_sample")), esc(t.get("fallback")), prose(t.get("next_description"))])
    html = table(["step", "description", "samples", "passing", "kept sample", "fallback", "next description"], rows,
                 "trace")
    step = meta.get("step")
    if step is not None:   # mark the step this row came from
        marker = f"<tr><td>{esc(step)}</td>"
        html = html.replace(marker, f'<tr class="current"><td>{esc(step)}</td>', 1)
    return f"<h2>GiFT chain of task {esc(meta['task_id'])}</h2>" + html


def cluster_page(source: RunSource, stage_key: str, number: int, kept: dict | None, members: list[dict],
                 total: int) -> str:
    left = _side(kept, stage_key, False, "kept row") if kept else '<p class="muted">kept row not found</p>'
    right = "".join(_side(m, stage_key, True, m.get("rejected_by")) for m in members)
    more = f'<p class="muted">{total - len(members)} more not shown</p>' if total > len(members) else ""
    body = (f"<p>{total} dropped row(s) in cluster {number} of {esc(stage_key)}, beside the row kept.</p>"
            f'<div class="grid"><div class="kept-side"><h2>Kept</h2>{left}</div>'
            f'<div class="dup-side"><h2>Dropped duplicates</h2>{right}{more}</div></div>')
    return page(f"Duplicate cluster {number}", body, [(url("/rows", {"stage": stage_key, "reason": "*"}), stage_key)])


def _side(r: dict[str, Any], stage_key: str, rejected: bool, label: Any) -> str:
    return (f'<div class="card"><p>{link(row_url(r.get("id") or "", stage_key, rejected), r.get("id"))} '
            f'<span class="muted">{esc(label)}</span></p>{prose(r.get("instruction"))}{code(r.get("code"))}</div>')


def match_page(source: RunSource, found: Found, ngram: int) -> str:
    r, key = found.row, found.stage.key if found.stage else None
    mine = "\n\n".join(str(r.get(c) or "") for c in ("instruction", "code"))
    parts = []
    for item in r.get("contamination_items") or []:
        theirs = "\n\n".join(str(item.get(c) or "") for c in ("prompt", "solution"))
        a, b = shared_spans(mine, theirs, ngram)
        parts.append(f'<div class="grid"><div><h2>Row {link(row_url(r.get("id") or "", key, True), r.get("id"))}'
                     f"</h2>{marked(mine, a)}</div><div><h2>{esc(item.get('benchmark'))} "
                     f"{esc(item.get('item_id'))}</h2>{marked(theirs, b)}</div></div>")
    if not parts:
        parts.append('<p class="muted">this row has no contamination_items (a run made before they were recorded); '
                     "the matches below name the items</p>")
    matches = [[esc(m.get("benchmark")), esc(m.get("item_id")), esc(m.get("detector")), esc(m.get("view")),
                esc(m.get("column")), snippet(m.get("span") or m.get("similarity"), 200)]
               for m in r.get("contamination") or []]
    body = (f'<p>{esc(r.get("rejected_detail"))}</p><p class="muted">marked: word {ngram}-grams the two texts '
            "share</p>" + "".join(parts) + "<h2>Matches</h2>"
            + table(["benchmark", "item", "detector", "view", "column", "span / similarity"], matches))
    return page(f"Contamination match {r.get('id')}", body, [(url("/rows", {"stage": key, "reason": "*"}), key)])


def contamination_ngram(source: RunSource, stage_key: str | None, default: int = 10) -> int:
    """The text view's n of the decontaminate stage (its report's settings), else ``default``."""
    if not stage_key:
        return default
    path = source.stage(stage_key).path / "contamination.json"
    try:
        with path.open() as f:   # the settings come first in the file; the removed list can be long
            head = f.read(4096)
        at = head.index('"ngram_text":')
        return int(head[at + 13:].split(",", 1)[0].strip())
    except (OSError, ValueError):
        return default


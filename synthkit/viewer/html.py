"""HTML building blocks: every value from a row goes through ``esc``.

Row text is data, never markup: ``esc`` escapes ``& < > " '``, attributes are
always quoted, links are built here from ``url`` (a path this viewer serves
plus url-encoded parameters), never from row text. Pages carry no inline script
or style (the Content-Security-Policy forbids both); the only scripts are the
vendored Prism files under ``/static/``.
"""

from __future__ import annotations

import html
import json
from typing import Any, Iterable
from urllib.parse import quote, urlencode

CODE_LANG = "language-python"


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def url(path: str, params: dict[str, Any] | None = None) -> str:
    """A link to this viewer: ``path`` (its segments quoted) and parameters, escaped for an attribute."""
    q = urlencode({k: v for k, v in (params or {}).items() if v is not None and v != ""})
    return esc(quote(path, safe="/") + (f"?{q}" if q else ""))


def row_url(row_id: str, stage_key: str | None, rejected: bool | None = None) -> str:
    params = {"stage": stage_key}
    if rejected is not None:
        params["from"] = "rejected" if rejected else "kept"
    return url(f"/row/{row_id}", params)


def link(href: str, text: Any, cls: str = "") -> str:
    """``href`` must come from ``url``/``row_url`` (already escaped)."""
    return f'<a href="{href}"{f" class={chr(34)}{cls}{chr(34)}" if cls else ""}>{esc(text)}</a>'


def page(title: str, body: str, crumbs: Iterable[tuple[str, str]] = ()) -> str:
    nav = " › ".join([link(url("/"), "funnel"), link(url("/rows"), "final rows")]
                     + [link(h, t) for h, t in crumbs])
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{esc(title)} · synthkit view</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="stylesheet" href="/static/prism.min.css">'
        '<link rel="stylesheet" href="/static/viewer.css">'
        '<script src="/static/prism-core.min.js" defer></script>'
        '<script src="/static/prism-python.min.js" defer></script>'
        f'</head><body><nav>{nav}</nav><main><h1>{esc(title)}</h1>{body}</main></body></html>')


def table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    """``head`` is plain text (escaped here); ``rows`` hold cells already rendered."""
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{esc(cls)}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def raw_table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    """Like ``table`` but ``head`` cells are already rendered (sort links)."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{esc(cls)}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def kv(pairs: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{value(v)}</td></tr>" for k, v in pairs)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def value(v: Any) -> str:
    """A scalar as text; lists and dicts as JSON in a <pre>."""
    if isinstance(v, float):
        return esc(f"{v:.4g}")
    if isinstance(v, (dict, list)):
        return f"<pre>{esc(json.dumps(v, indent=1, ensure_ascii=False, default=str))}</pre>"
    return esc(v)


def code(text: Any, lang: bool = True) -> str:
    """A code block; Prism highlights it in the browser from its text (never from markup)."""
    cls = f' class="{CODE_LANG}"' if lang else ""
    return f"<pre><code{cls}>{esc(text)}</code></pre>"


def prose(text: Any) -> str:
    return f'<pre class="prose">{esc(text)}</pre>'


def marked(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` escaped, with each (start, end) span wrapped in <mark>."""
    out, at = [], 0
    for start, end in spans:
        out.append(esc(text[at:start]))
        out.append(f"<mark>{esc(text[start:end])}</mark>")
        at = end
    out.append(esc(text[at:]))
    return f'<pre class="prose">{"".join(out)}</pre>'


def snippet(text: Any, n: int = 160) -> str:
    s = "" if text is None else " ".join(str(text).split())
    return esc(s if len(s) <= n else s[: n - 1] + "…")


def number(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return esc(f"{v:.3g}")
    if isinstance(v, int):
        return esc(f"{v:,}")
    return esc(v)


def select(name: str, options: list[tuple[str, str]], chosen: str | None) -> str:
    opts = "".join(f'<option value="{esc(v)}"{" selected" if v == (chosen or "") else ""}>{esc(t)}</option>'
                   for v, t in options)
    return f'<select name="{esc(name)}" id="f-{esc(name)}">{opts}</select>'


def field(name: str, val: Any, label: str, kind: str = "text") -> str:
    return (f'<label for="f-{esc(name)}">{esc(label)}</label>'
            f'<input type="{kind}" name="{esc(name)}" id="f-{esc(name)}" value="{esc(val)}">')

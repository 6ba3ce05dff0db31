"""The Starlette app: GET routes only, every response with a strict Content-Security-Policy.

Routes (each a stable URL):

    /                     funnel, run report, card plots, link to the card
    /rows?...             row browser (``synthkit.viewer.query.Query`` lists the parameters)
    /row/ID?stage=&from=  one row; ``from`` = kept | rejected narrows where it is looked up
    /cluster?stage=&n=    a dedup_minhash cluster beside its kept row
    /match/ID?stage=      a decontaminate hit beside the benchmark item, shared n-grams marked
    /card, /plots/NAME    the saved dataset's card and its images
    /static/NAME          the stylesheet and the vendored Prism files

The policy allows scripts, styles and images from this server only: no inline
script, no inline style, no ``javascript:`` URL, no form posting elsewhere, no
framing. Bad parameters answer 400 with the message; unknown rows 404.
"""

from __future__ import annotations

from pathlib import Path

from synthkit.errors import DataError
from synthkit.viewer import pages, query, rowpage
from synthkit.viewer.lookup import cluster, find_row
from synthkit.viewer.source import NotFound, RunSource

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-store"}


def make_app(run_dir: Path):
    """The ASGI app serving ``run_dir`` (a run folder or a saved dataset folder)."""
    from starlette.applications import Starlette
    from starlette.responses import FileResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    source = RunSource(run_dir)

    def plot(request):
        path = source.plot_path(request.path_params["name"])
        if path is None:
            return _page(source, lambda *_: _missing("no such plot"))(request)
        return FileResponse(path, media_type="image/png", headers=HEADERS)

    routes = [Route("/", _page(source, _home)), Route("/rows", _page(source, _rows)),
              Route("/row/{rid:path}", _page(source, _row)), Route("/cluster", _page(source, _cluster)),
              Route("/match/{rid:path}", _page(source, _match)), Route("/card", _page(source, _card)),
              Route("/plots/{name}", plot), Mount("/static", StaticFiles(directory=STATIC), name="static")]
    return _with_headers(Starlette(routes=routes))


def _page(source: RunSource, render):
    """A request handler: ``render(source, query params, path params) -> html``; errors become 400/404 pages."""
    from starlette.responses import HTMLResponse

    def handle(request):
        try:
            html = render(source, dict(request.query_params), request.path_params)
            source.warm_once()
            return HTMLResponse(html, headers=HEADERS)
        except NotFound as e:
            return HTMLResponse(pages.error_page(str(e), 404), 404, headers=HEADERS)
        except DataError as e:
            return HTMLResponse(pages.error_page(str(e), 400), 400, headers=HEADERS)
    return handle


def _home(source: RunSource, params: dict, path: dict) -> str:
    return pages.funnel_page(source)


def _rows(source: RunSource, params: dict, path: dict) -> str:
    q = query.Query.parse(params)
    return pages.rows_page(source, q, query.run(source, q))


def _row(source: RunSource, params: dict, path: dict) -> str:
    where = params.get("from")
    if where not in (None, "", "kept", "rejected"):
        raise DataError(f"from={where!r}: expected kept or rejected")
    found = find_row(source, path["rid"], params.get("stage") or None, None if not where else where == "rejected")
    if found is None:
        raise NotFound(f"no row with id {path['rid']!r}")
    return rowpage.row_page(source, found)


def _cluster(source: RunSource, params: dict, path: dict) -> str:
    stage, n = params.get("stage"), params.get("n", "")
    if not stage or not n.lstrip("-").isdigit():
        raise DataError("cluster needs stage=NAME and n=<cluster number>")
    kept, members, total = cluster(source, stage, int(n))
    if not members:
        raise NotFound(f"no dropped rows in cluster {n} of {stage}")
    return rowpage.cluster_page(source, source.stage(stage).key, int(n), kept, members, total)


def _match(source: RunSource, params: dict, path: dict) -> str:
    stage = params.get("stage")
    if not stage:
        raise DataError("match needs stage=NAME (the decontaminate stage)")
    found = find_row(source, path["rid"], stage, True)
    if found is None:
        raise NotFound(f"no dropped row with id {path['rid']!r} in {stage}")
    return rowpage.match_page(source, found, min(rowpage.contamination_ngram(source, found.stage.key), 8))


def _card(source: RunSource, params: dict, path: dict) -> str:
    if source.card_text() is None:
        raise NotFound("this run has no saved data card")
    return pages.card_page(source)


def _missing(message: str) -> str:
    raise NotFound(message)


def _with_headers(app):
    """Wrap an ASGI app so every HTTP response (static files and errors too) gets ``HEADERS``."""
    extra = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]

    async def wrapped(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                have = {k for k, _ in message.get("headers", [])}
                message = {**message, "headers": list(message.get("headers", [])) + [h for h in extra if h[0] not in have]}
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped

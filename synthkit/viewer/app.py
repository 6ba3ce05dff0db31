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
    from starlette.responses import FileResponse, HTMLResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    source = RunSource(run_dir)

    def answer(render, status: int = 200):
        try:
            return HTMLResponse(render(), status_code=status, headers=HEADERS)
        except NotFound as e:
            return HTMLResponse(pages.error_page(str(e.args[0] if e.args else e), 404), 404, headers=HEADERS)
        except DataError as e:
            return HTMLResponse(pages.error_page(str(e), 400), 400, headers=HEADERS)

    def home(request):
        return answer(lambda: pages.funnel_page(source))

    def rows(request):
        def render():
            q = query.Query.parse(dict(request.query_params))
            return pages.rows_page(source, q, query.run(source, q))
        return answer(render)

    def row(request):
        def render():
            where = request.query_params.get("from")
            if where not in (None, "", "kept", "rejected"):
                raise DataError(f"from={where!r}: expected kept or rejected")
            rid = request.path_params["rid"]
            found = find_row(source, rid, request.query_params.get("stage") or None,
                             None if not where else where == "rejected")
            if found is None:
                raise NotFound(f"no row with id {rid!r}")
            return rowpage.row_page(source, found)
        return answer(render)

    def dup_cluster(request):
        def render():
            stage, n = request.query_params.get("stage"), request.query_params.get("n", "")
            if not stage or not n.lstrip("-").isdigit():
                raise DataError("cluster needs stage=NAME and n=<cluster number>")
            kept, members, total = cluster(source, stage, int(n))
            if not members:
                raise NotFound(f"no dropped rows in cluster {n} of {stage}")
            return rowpage.cluster_page(source, source.stage(stage).key, int(n), kept, members, total)
        return answer(render)

    def match(request):
        def render():
            stage, rid = request.query_params.get("stage"), request.path_params["rid"]
            if not stage:
                raise DataError("match needs stage=NAME (the decontaminate stage)")
            found = find_row(source, rid, stage, True)
            if found is None:
                raise NotFound(f"no dropped row with id {rid!r} in {stage}")
            return rowpage.match_page(source, found, min(rowpage.contamination_ngram(source, found.stage.key), 8))
        return answer(render)

    def card(request):
        if source.card_text() is None:
            return answer(lambda: _missing("this run has no saved data card"))
        return answer(lambda: pages.card_page(source))

    def plot(request):
        path = source.plot_path(request.path_params["name"])
        if path is None:
            return answer(lambda: _missing("no such plot"))
        return FileResponse(path, media_type="image/png", headers=HEADERS)

    routes = [Route("/", home), Route("/rows", rows), Route("/row/{rid:path}", row),
              Route("/cluster", dup_cluster), Route("/match/{rid:path}", match), Route("/card", card),
              Route("/plots/{name}", plot), Mount("/static", StaticFiles(directory=STATIC), name="static")]
    return _with_headers(Starlette(routes=routes))


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

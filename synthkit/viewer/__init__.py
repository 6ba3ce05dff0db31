"""``synthkit view``: a local, read-only web page over a run folder or a saved dataset.

``serve(run_dir, host, port)`` runs the Starlette app of ``synthkit.viewer.app`` on
uvicorn (the ``viewer`` extra; without it ``require`` raises ``MissingDependency``
naming the install command). It reads the folder only: no route writes; only GET.

Protects against: row text is model output, treated as data. Every value is
HTML-escaped, links are built by the viewer, and a Content-Security-Policy allows
scripts, styles and images from this server only. Listens on 127.0.0.1 by default.
Does not protect against: anyone who can reach the port reads the data (no login).

Memory and time: docs/viewer.md, "Scale".
"""

from __future__ import annotations

from pathlib import Path

from synthkit.errors import require as _require

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def require() -> None:
    """Fail with the pip command when the ``viewer`` extra is missing."""
    _require("starlette", "viewer")
    _require("uvicorn", "viewer")


def serve(run_dir: Path, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve ``run_dir`` until interrupted (blocks)."""
    require()
    import uvicorn

    from synthkit.viewer.app import make_app

    uvicorn.run(make_app(Path(run_dir)), host=host, port=port, log_level="warning")

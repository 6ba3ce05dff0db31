"""``synthkit view RUN_DIR [--port 8765] [--host 127.0.0.1]``: serve a run folder in the browser.

Light to import (the server libraries load in ``run``), so ``synthkit --help``
stays fast. Prints the URL to open; a host other than loopback prints a
warning first, since the page shows model text and data to whoever reaches it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from synthkit.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run folder (runs/<name>) or a folder written by the save stage")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (default: 8765; 0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1; anything else is reachable by others)")


def run(args: argparse.Namespace) -> int:
    from synthkit.viewer import LOOPBACK, require, serve
    from synthkit.viewer.source import RunSource

    require()
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: expected 0..65535")
    source = RunSource(Path(args.run_dir))     # a wrong folder fails here, before the server starts
    if args.port == 0:
        args.port = _free_port(args.host)
    if args.host not in LOOPBACK:
        print(f"synthkit view: warning: listening on {args.host}, not 127.0.0.1: anyone who can reach this "
              "port can read the run's model text and data (there is no login)", file=sys.stderr)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"synthkit view: serving {source.kind} {source.root}\n  open http://{shown}:{args.port}/", flush=True)
    serve(source.root, args.host, args.port)
    return 0


def _free_port(host: str) -> int:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]

"""A JSON-over-HTTP server on 127.0.0.1 for tests that play an OpenAI-compatible endpoint.

Subclass ``JsonServer`` and define ``respond(path, body) -> dict``; ``with Sub() as url``
serves every POST with its answer and yields ``http://127.0.0.1:<port>/v1``.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JsonServer:
    def respond(self, path: str, body: dict) -> dict:
        raise NotImplementedError

    def __enter__(self) -> str:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                data = json.dumps(server.respond(self.path, body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

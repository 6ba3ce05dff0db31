"""An OpenAI-compatible teacher on 127.0.0.1 for the SCoder bootstrap tests: every
request gets ``answers`` in turn (n choices each), on /v1/chat/completions and
/v1/completions. It records each request body in ``requests``."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class TeacherStub:
    def __init__(self, answers: list[str]) -> None:
        self.answers, self.requests, self.served = answers, [], 0
        self.lock = threading.Lock()

    def __enter__(self) -> str:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                chat = self.path.endswith("/chat/completions")
                choices = []
                with stub.lock:
                    stub.requests.append({"path": self.path, **body})
                    texts = [stub.answers[(stub.served + i) % len(stub.answers)] for i in range(body.get("n", 1))]
                    stub.served += len(texts)
                for i, text in enumerate(texts):
                    choices.append({"index": i, "finish_reason": "stop",
                                    **({"message": {"role": "assistant", "content": text}} if chat else {"text": text})})
                data = json.dumps({"choices": choices, "usage": {"completion_tokens": 50 * len(choices),
                                                                 "prompt_tokens": 100}}).encode()
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

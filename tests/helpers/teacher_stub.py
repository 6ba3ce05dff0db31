"""An OpenAI-compatible teacher on 127.0.0.1 for the SCoder bootstrap tests: every
request gets ``answers`` in turn (n choices each), on /v1/chat/completions and
/v1/completions. It records each request body in ``requests``."""

from __future__ import annotations

import threading

from helpers.json_server import JsonServer


class TeacherStub(JsonServer):
    def __init__(self, answers: list[str]) -> None:
        self.answers, self.requests, self.served = answers, [], 0
        self.lock = threading.Lock()

    def respond(self, path: str, body: dict) -> dict:
        chat = path.endswith("/chat/completions")
        with self.lock:
            self.requests.append({"path": path, **body})
            texts = [self.answers[(self.served + i) % len(self.answers)] for i in range(body.get("n", 1))]
            self.served += len(texts)
        choices = [{"index": i, "finish_reason": "stop",
                    **({"message": {"role": "assistant", "content": text}} if chat else {"text": text})}
                   for i, text in enumerate(texts)]
        return {"choices": choices, "usage": {"completion_tokens": 50 * len(choices), "prompt_tokens": 100}}

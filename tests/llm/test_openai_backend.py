"""OpenAI-compatible backend: retries, timeouts, n handling and parsing against
small real HTTP servers started here, plus (slow) a live ``transformers serve``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from synthkit.errors import SynthkitError
from synthkit.llm.base import LLMConfig, SamplingParams
from synthkit.llm.openai_backend import OpenAILLM

CHAT = [{"role": "user", "content": "Write a Python function that adds two numbers."}]

Reply = tuple[int, dict[str, str], Any]  # status, headers, JSON body


@contextlib.contextmanager
def http_server(respond: Callable[[str, dict, int], Reply]):
    """A real HTTP server on 127.0.0.1; ``respond(path, body, i)`` answers request i.
    Yields (base_url, seen) where ``seen`` lists the (path, body) received."""
    seen: list[tuple[str, dict]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                seen.append((self.path, body))
                i = len(seen) - 1
            status, headers, payload = respond(self.path, body, i)
            data = json.dumps(payload).encode()
            self.send_response(status)
            for k, v in {"Content-Type": "application/json", **headers}.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        server.shutdown()
        server.server_close()


def chat_reply(text: str, finish: str = "stop", n: int = 1, tokens: int = 3) -> dict:
    return {"choices": [{"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                        for i in range(n)],
            "usage": {"prompt_tokens": 11, "completion_tokens": tokens * n}}


def client(url: str, **kw) -> OpenAILLM:
    cfg = LLMConfig(backend="openai", model="m", base_url=url, **kw)
    return OpenAILLM(cfg, backoff_s=0.01, max_backoff_s=0.05)


def test_retries_503_twice_then_succeeds():
    def respond(path, body, i):
        return (503, {}, {"error": "busy"}) if i < 2 else (200, {}, chat_reply("ok then"))

    with http_server(respond) as (url, seen):
        out = client(url, max_retries=3).generate([CHAT], SamplingParams(max_tokens=5))
    assert [c.text for c in out[0]] == ["ok then"]
    assert out[0][0].tokens == 3 and out[0][0].prompt_tokens == 11 and out[0][0].finish_reason == "stop"
    assert len(seen) == 3 and all(p == "/v1/chat/completions" for p, _ in seen)
    assert seen[0][1]["messages"] == CHAT and seen[0][1]["model"] == "m"


def test_429_honours_retry_after_then_succeeds():
    def respond(path, body, i):
        return (429, {"Retry-After": "0.2"}, {}) if i == 0 else (200, {}, chat_reply("x"))

    with http_server(respond) as (url, seen):
        out = client(url, max_retries=1).generate([CHAT], SamplingParams(max_tokens=5))
    assert out[0][0].text == "x" and len(seen) == 2


def test_gives_up_after_max_retries_naming_url_and_status():
    with http_server(lambda p, b, i: (500, {}, {"error": "boom"})) as (url, seen):
        with pytest.raises(SynthkitError) as err:
            client(url, max_retries=2).generate([CHAT], SamplingParams(max_tokens=5))
    assert len(seen) == 3
    assert f"{url}/chat/completions" in str(err.value) and "HTTP 500" in str(err.value)


def test_client_error_is_not_retried():
    with http_server(lambda p, b, i: (400, {}, {"error": "bad model"})) as (url, seen):
        with pytest.raises(SynthkitError, match="HTTP 400"):
            client(url, max_retries=3).generate(["hi"], SamplingParams(max_tokens=5))
    assert len(seen) == 1 and seen[0][0] == "/v1/completions"


def test_timeout_on_a_server_that_never_answers():
    # A listening socket that is never accepted: the connection opens (kernel
    # backlog) but no byte ever comes back, so only the read timeout ends it.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        with pytest.raises(SynthkitError, match="timed out") as err:
            client(url, timeout_s=0.3, max_retries=1).generate([CHAT], SamplingParams(max_tokens=5))
    assert url in str(err.value) and "2 attempt" in str(err.value)


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as sock:  # reserve a port, then close it so nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(SynthkitError, match="connection error") as err:
        client(url, max_retries=2).generate(["x"], SamplingParams(max_tokens=5))
    assert "3 attempt" in str(err.value)


def test_server_that_ignores_n_gets_one_request_per_completion():
    def respond(path, body, i):  # always one choice; its text shows the seed it got
        return 200, {}, {"choices": [{"index": 0, "text": f"seed={body.get('seed')}", "finish_reason": "length"}],
                         "usage": {"prompt_tokens": 2, "completion_tokens": 4}}

    with http_server(respond) as (url, seen):
        llm = client(url)
        out = llm.generate(["a", "b"], SamplingParams(n=3, seed=7, max_tokens=4))
        assert [[c.text for c in comps] for comps in out] == [["seed=7", "seed=8", "seed=9"]] * 2
        assert all(c.tokens == 4 and c.finish_reason == "length" for comps in out for c in comps)
        assert len(seen) == 6
        seen.clear()
        llm.generate(["c"], SamplingParams(n=2, seed=1, max_tokens=4))  # learnt: n=1 requests only
        assert len(seen) == 2 and all(b["n"] == 1 for _, b in seen)


def test_server_that_honours_n_gets_one_request():
    with http_server(lambda p, b, i: (200, {}, chat_reply("same", n=b["n"], tokens=5))) as (url, seen):
        out = client(url).generate([CHAT, CHAT], SamplingParams(n=4, max_tokens=8))
    assert len(seen) == 2 and [len(c) for c in out] == [4, 4]
    assert all(c.tokens == 5 for comps in out for c in comps)  # usage sum split across choices


def test_concurrency_is_bounded():
    state = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def respond(path, body, i):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.1)
        with lock:
            state["now"] -= 1
        return 200, {}, chat_reply(body["messages"][0]["content"])

    prompts = [[{"role": "user", "content": f"q{i}"}] for i in range(8)]
    with http_server(respond) as (url, seen):
        out = client(url, max_concurrency=2).generate(prompts, SamplingParams(max_tokens=2))
    assert [c[0].text for c in out] == [f"q{i}" for i in range(8)]  # prompt order kept
    assert len(seen) == 8 and 1 <= state["peak"] <= 2


def test_stop_strings_cut_client_side_and_top_logprobs_parsed():
    lp = {"content": [{"token": "a", "logprob": -0.1, "top_logprobs": [{"token": "a", "logprob": -0.1},
                                                                        {"token": "b", "logprob": -2.5}]}]}

    def respond(path, body, i):
        return 200, {}, {"choices": [{"index": 0, "message": {"content": "a\nEND more"}, "finish_reason": "length",
                                      "logprobs": lp}], "usage": {"completion_tokens": 9}}

    with http_server(respond) as (url, seen):
        out = client(url).generate([CHAT], SamplingParams(max_tokens=9, stop=("END",), top_logprobs=2))
    c = out[0][0]
    assert c.text == "a\n" and c.finish_reason == "stop"
    assert c.top_logprobs == [{"a": -0.1, "b": -2.5}] and c.tokens == 1
    assert seen[0][1]["stop"] == ["END"] and seen[0][1]["top_logprobs"] == 2 and seen[0][1]["logprobs"] is True


def test_logprobs_sums_continuation_tokens_from_echo():
    def respond(path, body, i):  # vLLM-style echo: one entry per prompt token, then the generated one
        text = body["prompt"]
        assert body["echo"] is True and body["max_tokens"] == 1
        pieces = [text[j:j + 2] for j in range(0, len(text), 2)] + ["<gen>"]
        offsets = [2 * j for j in range(len(pieces))]
        values = [None] + [-0.5] * (len(pieces) - 1)
        return 200, {}, {"choices": [{"text": text + "<gen>", "logprobs": {
            "tokens": pieces, "token_logprobs": values, "text_offset": offsets, "top_logprobs": None}}]}

    with http_server(respond) as (url, seen):
        res = client(url).logprobs(["abcd", "ab"], ["efgh", ""])
    assert res[0].n_tokens == 2 and res[0].logprob == pytest.approx(-1.0)  # "ef", "gh"; not "<gen>"
    assert res[1].n_tokens == 0 and res[1].logprob == 0.0 and len(seen) == 1


def test_logprobs_unsupported_server_raises_clear_error():
    reply = {"choices": [{"text": "x", "finish_reason": "length"}], "usage": {}}
    with http_server(lambda p, b, i: (200, {}, reply)) as (url, _):
        with pytest.raises(SynthkitError, match="does not support prompt logprobs"):
            client(url).logprobs(["a"], ["b"])


# ---------------------------------------------------------------- live server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``transformers serve <embedded dir>`` on a free port; killed at the end."""
    from synthkit.llm.embedded import embedded_model_dir

    exe = Path(sys.executable).with_name("transformers")
    if not exe.exists():
        pytest.skip("the transformers CLI is not installed next to this python")
    model_dir = str(embedded_model_dir())
    port = _free_port()
    cmd = [str(exe), "serve", model_dir, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    log_file = open(log_path, "wb")  # a file, not a pipe: an unread pipe would block the server
    proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("transformers serve was not ready within 180 s")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", model_dir
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log_file.close()


@pytest.mark.slow
def test_live_greedy_chat_matches_local_transformers(served):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    url, model_dir = served
    llm = OpenAILLM(LLMConfig(backend="openai", model=model_dir, base_url=url, timeout_s=120))
    out = llm.generate([CHAT], SamplingParams(n=2, temperature=0.0, max_tokens=8))
    assert len(out[0]) == 2 and out[0][0].text == out[0][1].text  # n honoured by repeating requests
    c = out[0][0]
    assert c.tokens == 8 and c.finish_reason == "length" and c.prompt_tokens > 20

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    ids = tok.apply_chat_template(CHAT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        gen = model.generate(**ids, max_new_tokens=8, do_sample=False)
    expected = tok.decode(gen[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert c.text == expected and c.prompt_tokens == ids["input_ids"].shape[1]


@pytest.mark.slow
def test_live_completions_stop_and_embedded_name(served):
    url, _ = served
    # model "embedded" sends no model field: the pinned server answers with its own model
    llm = OpenAILLM(LLMConfig(backend="openai", model="embedded", base_url=url, timeout_s=120))
    out = llm.generate(["def add(a, b):\n"], SamplingParams(temperature=0.0, max_tokens=12, stop=("\n",)))
    c = out[0][0]
    assert "\n" not in c.text and c.finish_reason == "stop" and 1 <= c.tokens <= 12
    with pytest.raises(SynthkitError, match="does not support prompt logprobs"):
        llm.logprobs(["def add(a, b):"], ["\n    return a + b"])

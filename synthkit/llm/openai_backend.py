"""``backend: openai``: any OpenAI-compatible HTTP server (vLLM serve, TGI, llama.cpp, ``transformers serve``).

- Chat prompts go to ``{base_url}/chat/completions``, strings to ``/completions``;
  at most ``max_concurrency`` requests in flight; results in prompt order.
- ``timeout_s`` per connect/read/write; connection errors, timeouts, 429 and 5xx are
  retried ``max_retries`` times with jittered exponential backoff (at least the
  server's ``Retry-After``); a request that still fails raises ``SynthkitError``
  naming the URL and status.
- A server returning fewer than ``n`` choices gets one request per missing one
  (seed ``seed + k``). ``tokens``: per-token logprobs, else ``usage`` (split over
  choices). Stop strings are also cut client-side.
- ``logprobs``: ``/completions`` with ``echo`` on ``prompt + continuation`` (chat
  prompts rendered locally, so ``model`` must load in ``AutoTokenizer``); a server
  without prompt logprobs gets a ``SynthkitError``. ``model: embedded`` sends no
  model field. Details: docs/backends.md.
"""

from __future__ import annotations

import logging
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from synthkit.errors import ConfigError, DataError, SynthkitError, require
from synthkit.llm._common import check_prompt, cut_at_stop, render_text
from synthkit.llm.base import Completion, LLMConfig, Prompt, SamplingParams, TokenLogprobs

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class OpenAILLM:
    """HTTP client for an OpenAI-compatible server; see the module docstring."""

    def __init__(self, config: LLMConfig, *, backoff_s: float = 0.5, max_backoff_s: float = 30.0):
        httpx = require("httpx", pip_name="httpx")
        self.config = config
        self.model_id = config.model
        self.base_url = config.base_url.rstrip("/")
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        key = os.environ.get(config.api_key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._httpx = httpx
        self._client = httpx.Client(
            timeout=httpx.Timeout(config.timeout_s), headers=headers,
            limits=httpx.Limits(max_connections=config.max_concurrency),
        )
        self._n_supported: bool | None = None  # learnt from the first n > 1 request
        self._tokenizer: Any = None

    # ------------------------------------------------------------------ HTTP
    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with retries; returns the parsed JSON body or raises SynthkitError."""
        url = self.base_url + path
        attempts = self.config.max_retries + 1
        last, retry_after = "", 0.0
        for attempt in range(attempts):
            if attempt:
                time.sleep(self._delay(attempt, retry_after))
            retry_after = 0.0
            try:
                resp = self._client.post(url, json=body)
            except self._httpx.TimeoutException:
                last = f"timed out after {self.config.timeout_s} s"
                continue
            except self._httpx.TransportError as e:
                last = f"connection error ({type(e).__name__}: {e})"
                continue
            if resp.status_code == 200:
                try:
                    return resp.json()
                except ValueError as e:
                    raise SynthkitError(f"POST {url}: the response is not JSON: {resp.text[:200]!r}") from e
            last = f"HTTP {resp.status_code}: {resp.text[:300]}"
            if resp.status_code not in RETRY_STATUS:
                raise SynthkitError(f"POST {url} failed with {last}")
            retry_after = _retry_after(resp.headers.get("retry-after"))
            log.debug("POST %s: %s (attempt %d/%d)", url, last, attempt + 1, attempts)
        raise SynthkitError(f"POST {url} failed after {attempts} attempt(s); last error: {last}")

    def _delay(self, attempt: int, retry_after: float) -> float:
        base = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        return min(self.max_backoff_s, max(retry_after, base * (0.5 + random.random())))

    # ------------------------------------------------------------------ generate
    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        if params.n < 1 or params.max_tokens < 1:
            raise ConfigError(f"sampling params need n >= 1 and max_tokens >= 1, got n={params.n}, "
                              f"max_tokens={params.max_tokens}")
        for i, p in enumerate(prompts):
            check_prompt(p, i)
        out: list[list[Completion]] = [[] for _ in prompts]
        with ThreadPoolExecutor(max_workers=self.config.max_concurrency) as pool:
            # First round: one request per prompt asking for all n, unless this
            # server is known to ignore n; then one request per completion.
            per_k = self._n_supported is False and params.n > 1
            jobs = [(i, k if per_k else 0, 1 if per_k else params.n)
                    for i in range(len(prompts)) for k in (range(params.n) if per_k else [0])]
            self._run(pool, jobs, prompts, params, out)
            missing = [(i, k, 1) for i in range(len(prompts)) for k in range(len(out[i]), params.n)]
            if missing:
                if params.n > 1 and not per_k:
                    log.info("server %s returned fewer than n=%d choices; sending one request per completion",
                             self.base_url, params.n)
                    self._n_supported = False
                self._run(pool, missing, prompts, params, out)
        if params.n > 1 and self._n_supported is None:
            self._n_supported = True
        for i, comps in enumerate(out):
            if len(comps) < params.n:  # the server returned no choice at all
                raise SynthkitError(f"{self.base_url}: got {len(comps)} completions for prompt #{i}, "
                                    f"expected n={params.n}")
            del comps[params.n:]
        return out

    def _run(self, pool: ThreadPoolExecutor, jobs: list[tuple[int, int, int]], prompts: Sequence[Prompt],
             params: SamplingParams, out: list[list[Completion]]) -> None:
        futures = [(i, pool.submit(self._complete, prompts[i], params, n, k)) for i, k, n in jobs]
        try:
            for i, fut in futures:  # in submission order, so completion k lands at index k
                out[i].extend(fut.result())
        except BaseException:
            for _, fut in futures:  # fail fast: do not send what has not started yet
                fut.cancel()
            raise

    def _complete(self, prompt: Prompt, params: SamplingParams, n: int, k: int) -> list[Completion]:
        chat = not isinstance(prompt, str)
        body = self._body(params, n, None if params.seed is None else params.seed + k)
        if chat:
            body["messages"] = prompt
            if params.top_logprobs > 0:
                body.update(logprobs=True, top_logprobs=params.top_logprobs)
        else:
            body["prompt"] = prompt
            if params.top_logprobs > 0:
                body["logprobs"] = params.top_logprobs
        data = self._post("/chat/completions" if chat else "/completions", body)
        return self._parse(data, chat, params)

    def _body(self, params: SamplingParams, n: int, seed: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {"max_tokens": params.max_tokens, "temperature": params.temperature,
                                "top_p": params.top_p, "n": n}
        if self.config.model != "embedded":
            body["model"] = self.config.model
        if params.stop:
            body["stop"] = list(params.stop)
        if seed is not None:
            body["seed"] = seed
        return body

    def _parse(self, data: dict[str, Any], chat: bool, params: SamplingParams) -> list[Completion]:
        choices = sorted(data.get("choices") or [], key=lambda c: c.get("index", 0))
        usage = data.get("usage") or {}
        total = usage.get("completion_tokens") or 0
        comps = []
        for c in choices:
            text = ((c.get("message") or {}).get("content") if chat else c.get("text")) or ""
            top = _top_logprobs(c.get("logprobs"), chat) if params.top_logprobs > 0 else None
            tokens = len(top) if top is not None else total // max(len(choices), 1)
            text, hit = cut_at_stop(text, params.stop)
            finish = "length" if c.get("finish_reason") == "length" and not hit else "stop"
            comps.append(Completion(text=text, tokens=tokens, finish_reason=finish,
                                    prompt_tokens=usage.get("prompt_tokens") or 0, top_logprobs=top))
        return comps

    # ------------------------------------------------------------------ logprobs
    def logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[TokenLogprobs]:
        if len(prompts) != len(continuations):
            raise DataError(f"logprobs: {len(prompts)} prompts but {len(continuations)} continuations")
        for i, p in enumerate(prompts):
            check_prompt(p, i)
        texts = [p if isinstance(p, str) else self._chat_text(p) for p in prompts]
        with ThreadPoolExecutor(max_workers=self.config.max_concurrency) as pool:
            futs = [pool.submit(self._score, t, c) for t, c in zip(texts, continuations)]
            return [f.result() for f in futs]

    def _score(self, prompt: str, continuation: str) -> TokenLogprobs:
        if not continuation:
            return TokenLogprobs(logprob=0.0, n_tokens=0)
        body = self._body(SamplingParams(max_tokens=1, temperature=0.0), 1, None)
        body.update(prompt=prompt + continuation, echo=True, logprobs=1)
        data = self._post("/completions", body)
        lp = ((data.get("choices") or [{}])[0]).get("logprobs") or {}
        offsets, values = lp.get("text_offset"), lp.get("token_logprobs")
        if not offsets or not values:
            raise SynthkitError(
                f"the server at {self.base_url} does not support prompt logprobs (echo + logprobs on "
                "/completions returned none); use a vLLM server, or the transformers/vllm backend for logprobs"
            )
        start, end = len(prompt), len(prompt) + len(continuation)
        picked = [v for off, v in zip(offsets, values) if start <= off < end and v is not None]
        return TokenLogprobs(logprob=float(sum(picked)), n_tokens=len(picked))

    def _chat_text(self, prompt: Prompt) -> str:
        if self._tokenizer is None:
            try:
                from transformers import AutoTokenizer

                from synthkit.llm.embedded import resolve_model

                self._tokenizer = AutoTokenizer.from_pretrained(resolve_model(self.config.model))
            except (ImportError, OSError, ValueError) as e:
                raise SynthkitError(
                    f"logprobs of chat prompts over HTTP render the chat template locally, but the tokenizer of "
                    f"llm.model={self.config.model!r} cannot be loaded ({e}); pass plain string prompts"
                ) from e
        return render_text(self._tokenizer, prompt)[0]

    def close(self) -> None:
        self._client.close()


def _retry_after(value: str | None) -> float:
    """Seconds from a numeric Retry-After header (an HTTP date counts as 0)."""
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def _top_logprobs(lp: dict[str, Any] | None, chat: bool) -> list[dict[str, float]] | None:
    """Per-token ``{token: logprob}`` from either response format; None if absent."""
    if not lp:
        return None
    if chat:
        content = lp.get("content")
        if content is None:
            return None
        return [{t["token"]: t["logprob"] for t in item.get("top_logprobs") or []} for item in content]
    rows = lp.get("top_logprobs")
    return None if rows is None else [dict(r or {}) for r in rows]

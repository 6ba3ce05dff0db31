"""Deterministic fake LLM for fast unit tests (``backend: dummy``).

Every output is a pure function of its inputs (never of call order, batching or
state). With ``dummy_responses = [r0, r1, ...]``, completion ``k`` of prompt ``p``
under seed ``s`` is ``responses[(offset(p, s) + k) % len(responses)]``
(``response_index`` tells which): one response -> every prompt gets it;
``n == len(responses)`` -> each once per prompt. Without responses the text is
``"dummy <8 hex> #k"``. Tokens are whitespace words: ``max_tokens`` cuts (``length``),
a stop string cuts before it (``stop``); ``top_logprobs=m`` gives the fixed
distribution ``p_j ∝ 2^-j``. ``logprobs`` scores each continuation word with a
hash-derived value in [-3.0, -0.1]. ``model_id`` is ``"dummy:<config.model>"``.
Details: docs/backends.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from typing import Sequence

from synthkit.llm.base import Completion, LLMConfig, Prompt, SamplingParams, TokenLogprobs

log = logging.getLogger(__name__)


def prompt_text(prompt: Prompt) -> str:
    """The prompt as one string: plain strings unchanged, chats as ``role: content`` lines."""
    if isinstance(prompt, str):
        return prompt
    return "\n".join(f"{m.get('role', '')}: {m.get('content', '')}" for m in prompt)


def _digest(*parts: object) -> int:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big")


def response_index(prompt: Prompt, k: int, seed: int | None, n_responses: int) -> int:
    """Which canned response completion ``k`` of ``prompt`` gets (see module doc)."""
    return (_digest("offset", prompt_text(prompt), seed) + k) % n_responses


def token_logprob(word: str) -> float:
    """Deterministic log-probability of one whitespace word, in [-3.0, -0.1]."""
    return -0.1 - 2.9 * (_digest("lp", word) % 1000) / 999


def _top_logprobs(words: list[str], m: int) -> list[dict[str, float]]:
    weights = [2.0 ** -j for j in range(m)]
    total = sum(weights)
    lps = [math.log(w / total) for w in weights]
    out = []
    for word in words:
        d = {word: lps[0]}
        for j in range(1, m):
            d[f"<alt{j}>"] = lps[j]
        out.append(d)
    return out


class DummyLLM:
    """Implements the ``LLM`` protocol with no model at all."""

    def __init__(self, config: LLMConfig):
        self.config = config
        self.responses = list(config.dummy_responses)
        self.model_id = f"dummy:{config.model}"

    def _text(self, prompt: Prompt, k: int, seed: int | None) -> str:
        if self.responses:
            return self.responses[response_index(prompt, k, seed, len(self.responses))]
        h = _digest("text", prompt_text(prompt), seed, k)
        return f"dummy {h & 0xFFFFFFFF:08x} #{k}"

    def _complete(self, prompt: Prompt, k: int, params: SamplingParams) -> Completion:
        text = self._text(prompt, k, params.seed)
        finish = "stop"
        cut = [i for i in (text.find(s) for s in params.stop if s) if i >= 0]
        if cut:
            text = text[: min(cut)]
        words = text.split()
        if len(words) > params.max_tokens:
            words = words[: params.max_tokens]
            last = list(re.finditer(r"\S+", text))[params.max_tokens - 1]
            text = text[: last.end()]  # keep the original spacing: truncated code stays indented
            finish = "length"
        top = _top_logprobs(words, params.top_logprobs) if params.top_logprobs > 0 else None
        return Completion(
            text=text,
            tokens=len(words),
            finish_reason=finish,
            prompt_tokens=len(prompt_text(prompt).split()),
            top_logprobs=top,
        )

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        return [[self._complete(p, k, params) for k in range(params.n)] for p in prompts]

    def logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[TokenLogprobs]:
        if len(prompts) != len(continuations):
            raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        out = []
        for cont in continuations:
            words = cont.split()
            out.append(TokenLogprobs(sum(token_logprob(w) for w in words), len(words)))
        return out

    def close(self) -> None:
        pass

"""The one LLM protocol every backend implements, and its value types.

Contract (vLLM-style facade): lists of prompts go in, lists of outputs come
out, in the same order and of the same length. Batching, concurrency and
retries are the backend's job, never the caller's.

- ``generate(prompts, params) -> list[list[Completion]]``: ``params.n``
  completions per prompt.
- ``logprobs(prompts, continuations) -> list[TokenLogprobs]``: the summed
  log-probability (natural log) of each continuation's tokens given its prompt,
  and how many tokens that was. ``perplexity = exp(-logprob / n_tokens)``.

A prompt is a plain string (sent as-is) or a chat: a list of
``{"role", "content"}`` dicts rendered with the model's chat template (with the
generation prompt appended).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, Sequence, Union, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

Chat = list[dict[str, str]]
Prompt = Union[str, Chat]


@dataclass(frozen=True)
class SamplingParams:
    n: int = 1                       # completions per prompt
    temperature: float = 1.0         # 0 means greedy
    top_p: float = 1.0
    max_tokens: int = 256            # new tokens per completion
    stop: tuple[str, ...] = ()       # stop strings (not included in the text)
    seed: int | None = None          # RNG seed; part of the cache key
    top_logprobs: int = 0            # >0: return that many alternatives per generated token

    def key(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Completion:
    text: str
    tokens: int                      # generated tokens
    finish_reason: str               # "stop" (EOS or stop string) or "length"
    prompt_tokens: int = 0
    # per generated token: {token_text: logprob} of the top alternatives
    top_logprobs: list[dict[str, float]] | None = None


@dataclass
class TokenLogprobs:
    logprob: float                   # sum of ln p over the continuation's tokens
    n_tokens: int

    @property
    def perplexity(self) -> float:
        return math.exp(-self.logprob / max(self.n_tokens, 1))


@runtime_checkable
class LLM(Protocol):
    model_id: str                    # stable identifier, used in cache keys and row meta

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]: ...

    def logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[TokenLogprobs]: ...

    def close(self) -> None: ...


class LLMConfig(BaseModel):
    """Which model answers, and how. YAML: ``llm: {backend: transformers, model: embedded}``."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["transformers", "vllm", "openai", "dummy"] = Field("transformers", description=(
        "who answers: a local HF model, offline vLLM, an OpenAI-compatible server, or canned test answers"))
    model: str = Field("embedded", description="local path, hub id, or \"embedded\" (SmolLM2-135M-Instruct)")
    device: str = Field("auto", description="transformers: \"cpu\", \"cuda\", \"auto\"")
    dtype: str = Field("auto", description="transformers/vllm: \"float32\", \"bfloat16\", \"auto\"")
    batch_size: int = Field(16, ge=1, description="transformers: prompts per forward batch")
    threads: int | None = Field(None, ge=1, description=(
        "transformers on CPU: torch threads, process-wide (None: torch's default)"))
    engine_kwargs: dict[str, Any] = Field(default_factory=dict, description="vllm: passed to vllm.LLM")
    base_url: str = Field("http://127.0.0.1:8000/v1", description="openai: server root")
    api_key_env: str = Field("OPENAI_API_KEY", description="openai: env var holding the key (may be unset)")
    max_concurrency: int = Field(8, ge=1, description="openai: requests in flight")
    timeout_s: float = Field(120.0, gt=0, description="openai: per request")
    max_retries: int = Field(4, ge=0, description="openai: on 429/5xx/connection errors")
    cache: bool = Field(True, description="memoise (model, prompt, params, seed) -> completions")
    dummy_responses: list[str] = Field(default_factory=list, description="dummy: canned answers, cycled")

    @model_validator(mode="after")
    def _keys_of_this_backend(self) -> "LLMConfig":
        """A key only another backend reads (``base_url`` with ``transformers``) is a
        mistake the user should hear about at load time, not a silent no-op."""
        wrong = sorted(k for k in self.model_fields_set if self.backend not in BACKEND_KEYS.get(k, {self.backend}))
        if wrong:
            own = [k for k in type(self).model_fields if self.backend in BACKEND_KEYS.get(k, {self.backend})]
            which = "; ".join(f"`{k}` is read only by the {'/'.join(sorted(BACKEND_KEYS[k]))} backend" for k in wrong)
            raise ValueError(f"{which}, not by '{self.backend}'. Keys for {self.backend}: {', '.join(own)}")
        return self

    def fingerprint(self, model: str | None = None) -> dict[str, Any]:
        """What of this config can change an answer: every key but ``SPEED_KEYS``,
        with ``model`` (or the override) by its identity
        (``synthkit.llm.embedded.model_identity``: backend, content or revision).
        Stage fingerprints and the LLM cache key on it."""
        from synthkit.llm.embedded import model_identity

        out = {k: v for k, v in self.model_dump().items() if k not in SPEED_KEYS}
        return {**out, "model": model_identity(self, model)}

    def with_override(self, override: dict[str, Any]) -> "LLMConfig":
        """This config with ``override``'s keys laid over it. When the override
        switches the backend, keys only the old backend reads are dropped."""
        base = self.model_dump(exclude_unset=True)
        backend = override.get("backend", self.backend)
        if backend != self.backend:
            base = {k: v for k, v in base.items() if backend in BACKEND_KEYS.get(k, {backend})}
        return LLMConfig.model_validate({**base, **override})


# Settings that make a backend faster or more patient but cannot change an answer: they stay out of
# fingerprints, so tuning them never redoes finished work (nor misses the LLM cache).
SPEED_KEYS = frozenset({"threads", "max_concurrency", "timeout_s", "max_retries"})


# Keys that only some backends read; every other key is common to all.
BACKEND_KEYS: dict[str, set[str]] = {
    "device": {"transformers"}, "batch_size": {"transformers"}, "threads": {"transformers"},
    "dtype": {"transformers", "vllm"}, "engine_kwargs": {"vllm"},
    "base_url": {"openai"}, "api_key_env": {"openai"}, "max_concurrency": {"openai"},
    "timeout_s": {"openai"}, "max_retries": {"openai"}, "dummy_responses": {"dummy"},
}

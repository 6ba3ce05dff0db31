"""What an LLM cost: prompts asked, cache hits, tokens the backend processed.

``MeteredLLM(llm, usage)`` implements the ``LLM`` protocol around a backend and
adds to ``usage`` what reached it. ``CachedLLM(MeteredLLM(...), dir, usage)``
adds the prompts answered from the cache, so a ``Usage`` reads:

- ``requests``: prompts (and logprob pairs) asked, cached or not.
- ``cache_hits``: of those, answered from the LLM cache (no backend work).
- ``prompt_tokens``: prompt tokens the backend read, once per prompt (not once
  per completion); for ``logprobs`` the scored continuation tokens (the
  protocol does not report the prompt's).
- ``completion_tokens``: tokens the backend generated.

Tokens count backend work in this process only: a rerun answered from the
cache shows its hits and zero tokens. Backends count tokens their own way (the
dummy backend counts whitespace words).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Sequence

from synthkit.llm.base import LLM, Completion, Prompt, SamplingParams, TokenLogprobs


@dataclass
class Usage:
    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    def minus(self, before: "Usage") -> "Usage":
        """What was added since the snapshot ``before`` (a ``copy()``)."""
        return Usage(**{f.name: getattr(self, f.name) - getattr(before, f.name) for f in fields(self)})

    def copy(self) -> "Usage":
        return Usage(**asdict(self))


class MeteredLLM:
    """An ``LLM`` that forwards every call to ``llm`` and counts it into ``usage``."""

    def __init__(self, llm: LLM, usage: Usage):
        self.inner = llm
        self.usage = usage
        self.model_id = llm.model_id
        self.config: Any = getattr(llm, "config", None)  # CachedLLM keys on it

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        out = self.inner.generate(prompts, params)
        self.usage.requests += len(prompts)
        for completions in out:
            if completions:
                self.usage.prompt_tokens += completions[0].prompt_tokens
            self.usage.completion_tokens += sum(c.tokens for c in completions)
        return out

    def logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[TokenLogprobs]:
        out = self.inner.logprobs(prompts, continuations)
        self.usage.requests += len(prompts)
        self.usage.prompt_tokens += sum(r.n_tokens for r in out)
        return out

    def __getattr__(self, name: str) -> Any:  # backend extras (tokenizer, ...) stay reachable
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def close(self) -> None:
        self.inner.close()

"""``backend: vllm``: offline ``vllm.LLM`` on a GPU (``pip install 'synthkit[vllm]'``).

Contract (see ``synthkit.llm.base``):

- The engine is ``vllm.LLM(model=<resolved model>, **config.engine_kwargs)``; one call
  submits every prompt (``config.batch_size`` unused).
- Prompts are tokenised here with the transformers backend's rule
  (``synthkit.llm._common.prompt_ids``) and submitted as token ids.
- Sampling parameters map one to one (``to_vllm_kwargs``); with a seed each request is
  seeded, so results do not depend on batch composition.
- finish_reason ``"length"`` stays, anything else becomes ``"stop"``.
- ``logprobs`` sums ``prompt_logprobs`` over the continuation (``sum_prompt_logprobs``).

The pure mapping functions import without vllm and are unit-tested on CPU.
"""

from __future__ import annotations

import gc
import logging
from typing import Any, Sequence

from synthkit.errors import ConfigError, DataError, require
from synthkit.llm._common import check_prompt, continuation_ids, prompt_ids
from synthkit.llm.base import Completion, LLMConfig, Prompt, SamplingParams, TokenLogprobs

log = logging.getLogger(__name__)


def to_vllm_kwargs(params: SamplingParams) -> dict[str, Any]:
    """Keyword arguments for ``vllm.SamplingParams`` meaning the same as ``params``."""
    if params.n < 1 or params.max_tokens < 1:
        raise ConfigError(f"sampling params need n >= 1 and max_tokens >= 1, got n={params.n}, "
                          f"max_tokens={params.max_tokens}")
    kw: dict[str, Any] = {
        "n": params.n,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_tokens,
        "seed": params.seed,
    }
    if params.stop:
        kw["stop"] = list(params.stop)
    if params.top_logprobs > 0:
        kw["logprobs"] = params.top_logprobs
    return kw


def engine_kwargs(config: LLMConfig, model_path: str) -> dict[str, Any]:
    """Keyword arguments for ``vllm.LLM``: engine_kwargs win over config.dtype."""
    if "model" in config.engine_kwargs:
        raise ConfigError("llm.engine_kwargs.model: set llm.model instead; engine_kwargs may not name the model")
    kw: dict[str, Any] = {"model": model_path}
    if config.dtype != "auto":
        kw["dtype"] = config.dtype
    kw.update(config.engine_kwargs)
    return kw


def _top(step: Any, k: int, decode: Any) -> dict[str, float]:
    """``{token text: logprob}`` of the top-k entries of one vLLM logprobs position."""
    items = sorted(step.items(), key=lambda kv: (kv[1].rank is None, kv[1].rank or 0, -kv[1].logprob))
    top: dict[str, float] = {}
    for token_id, lp in items:
        if lp.rank is not None and lp.rank > k:
            continue  # vLLM adds the sampled token even when it is outside the top k
        text = lp.decoded_token if lp.decoded_token is not None else decode(token_id)
        top.setdefault(text, float(lp.logprob))
    return top


def to_completions(request_output: Any, params: SamplingParams, decode: Any) -> list[Completion]:
    """Map one vLLM ``RequestOutput`` to our completions (``decode(id) -> str``)."""
    n_prompt = len(request_output.prompt_token_ids or [])
    comps = []
    for out in request_output.outputs:
        top = None
        if params.top_logprobs > 0 and out.logprobs is not None:
            top = [_top(step, params.top_logprobs, decode) for step in out.logprobs]
        comps.append(Completion(
            text=out.text, tokens=len(out.token_ids),
            finish_reason="length" if out.finish_reason == "length" else "stop",
            prompt_tokens=n_prompt, top_logprobs=top,
        ))
    return comps


def sum_prompt_logprobs(prompt_logprobs: Sequence[Any], token_ids: Sequence[int], start: int) -> TokenLogprobs:
    """Sum ln p of ``token_ids[start:]`` from vLLM's per-position prompt logprobs
    (position 0 is None: the first token has no context, so it is never counted)."""
    total, n = 0.0, 0
    for j in range(max(start, 1), len(token_ids)):
        entry = prompt_logprobs[j]
        if entry is None or token_ids[j] not in entry:
            raise DataError(f"vLLM returned no prompt logprob for position {j} (token {token_ids[j]})")
        total += float(entry[token_ids[j]].logprob)
        n += 1
    return TokenLogprobs(logprob=total, n_tokens=n)


class VLLM:
    """Offline vLLM engine; see the module docstring."""

    def __init__(self, config: LLMConfig):
        vllm = require("vllm", extra="vllm")
        from synthkit.llm.embedded import resolve_model

        self.config = config
        self.model_id = config.model
        self._vllm = vllm
        self.llm = vllm.LLM(**engine_kwargs(config, resolve_model(config.model)))
        self.tokenizer = self.llm.get_tokenizer()

    def _decode(self, token_id: int) -> str:
        return self.tokenizer.decode([token_id])

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        sp = self._vllm.SamplingParams(**to_vllm_kwargs(params))
        for i, p in enumerate(prompts):
            check_prompt(p, i)
        inputs = [{"prompt_token_ids": prompt_ids(self.tokenizer, p)} for p in prompts]
        outs = self.llm.generate(inputs, sp, use_tqdm=False)
        return [to_completions(o, params, self._decode) for o in outs]

    def logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[TokenLogprobs]:
        if len(prompts) != len(continuations):
            raise DataError(f"logprobs: {len(prompts)} prompts but {len(continuations)} continuations")
        for i, p in enumerate(prompts):
            check_prompt(p, i)
        pairs = [(prompt_ids(self.tokenizer, p), continuation_ids(self.tokenizer, c))
                 for p, c in zip(prompts, continuations)]
        sp = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1)
        outs = self.llm.generate([{"prompt_token_ids": p + c} for p, c in pairs], sp, use_tqdm=False)
        return [sum_prompt_logprobs(o.prompt_logprobs, p + c, len(p)) for o, (p, c) in zip(outs, pairs)]

    def close(self) -> None:
        """Drop the engine and return GPU memory (vLLM holds it until collected)."""
        self.llm = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

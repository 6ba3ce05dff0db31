"""Build the backend an ``LLMConfig`` names. Backends are imported here, lazily,
so ``import synthkit.llm.base`` (the types) stays free of torch, vLLM and httpx."""

from __future__ import annotations

from synthkit.llm.base import LLM, LLMConfig


def make_llm(config: LLMConfig, model: str | None = None) -> LLM:
    """Build the backend ``config`` names; ``model`` overrides ``config.model``
    (used for multi-checkpoint sampling). Heavy imports happen here, lazily."""
    if model is not None:
        config = config.model_copy(update={"model": model})
    if config.backend == "dummy":
        from synthkit.llm.dummy import DummyLLM
        return DummyLLM(config)
    if config.backend == "transformers":
        from synthkit.llm.transformers_backend import TransformersLLM
        return TransformersLLM(config)
    if config.backend == "vllm":
        from synthkit.llm.vllm_backend import VLLM
        return VLLM(config)
    from synthkit.llm.openai_backend import OpenAILLM
    return OpenAILLM(config)

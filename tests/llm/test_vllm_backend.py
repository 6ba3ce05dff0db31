"""vLLM backend: the pure mapping functions on CPU; the engine itself on a GPU only.

The CPU tests feed ``to_completions`` / ``sum_prompt_logprobs`` small stand-ins
carrying exactly the documented fields of vLLM's RequestOutput,
CompletionOutput and Logprob; they test our mapping, not vLLM.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import pytest

from synthkit.errors import ConfigError, DataError, MissingDependency
from synthkit.llm.base import LLMConfig, SamplingParams
from synthkit.llm.vllm_backend import engine_kwargs, sum_prompt_logprobs, to_completions, to_vllm_kwargs


@dataclass
class Logprob:  # vllm.logprobs.Logprob
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:  # vllm.outputs.CompletionOutput (fields we read)
    text: str
    token_ids: list[int]
    finish_reason: str | None
    logprobs: list[dict[int, Logprob]] | None = None


@dataclass
class RequestOutput:  # vllm.outputs.RequestOutput (fields we read)
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]
    prompt_logprobs: list[dict[int, Logprob] | None] | None = None
    extra: dict = field(default_factory=dict)


def test_sampling_params_map_one_to_one():
    kw = to_vllm_kwargs(SamplingParams(n=3, temperature=0.7, top_p=0.9, max_tokens=64, stop=("\n\n", "```"),
                                       seed=5, top_logprobs=2))
    assert kw == {"n": 3, "temperature": 0.7, "top_p": 0.9, "max_tokens": 64, "seed": 5,
                  "stop": ["\n\n", "```"], "logprobs": 2}
    plain = to_vllm_kwargs(SamplingParams(temperature=0.0))
    assert "stop" not in plain and "logprobs" not in plain and plain["temperature"] == 0.0 and plain["seed"] is None
    with pytest.raises(ConfigError, match="n >= 1"):
        to_vllm_kwargs(SamplingParams(n=0))


def test_engine_kwargs_pass_through_and_model_is_protected():
    cfg = LLMConfig(backend="vllm", model="m", dtype="bfloat16",
                    engine_kwargs={"gpu_memory_utilization": 0.5, "max_model_len": 4096})
    assert engine_kwargs(cfg, "/models/m") == {"model": "/models/m", "dtype": "bfloat16",
                                               "gpu_memory_utilization": 0.5, "max_model_len": 4096}
    over = LLMConfig(backend="vllm", dtype="bfloat16", engine_kwargs={"dtype": "float16"})
    assert engine_kwargs(over, "p")["dtype"] == "float16"  # engine_kwargs win
    assert "dtype" not in engine_kwargs(LLMConfig(backend="vllm"), "p")
    with pytest.raises(ConfigError, match="engine_kwargs.model"):
        engine_kwargs(LLMConfig(backend="vllm", engine_kwargs={"model": "other"}), "p")


def test_completions_finish_reasons_counts_and_top_logprobs():
    steps = [{5: Logprob(-0.1, 1, "a"), 6: Logprob(-2.4, 2, "b")},
             # the sampled token (rank 7) is reported beside the top 2 and must be dropped
             {9: Logprob(-3.0, 7, "z"), 5: Logprob(-0.3, 1, None), 8: Logprob(-1.5, 2, "c")}]
    ro = RequestOutput(prompt_token_ids=[1, 2, 3], outputs=[
        CompletionOutput("az", [5, 9], "length", steps),
        CompletionOutput("done", [4, 2], "stop"),
        CompletionOutput("", [], "abort"),
    ])
    comps = to_completions(ro, SamplingParams(n=3, top_logprobs=2), decode=lambda t: f"<{t}>")
    assert [(c.text, c.tokens, c.finish_reason, c.prompt_tokens) for c in comps] == [
        ("az", 2, "length", 3), ("done", 2, "stop", 3), ("", 0, "stop", 3)]
    assert comps[0].top_logprobs == [{"a": -0.1, "b": -2.4}, {"<5>": -0.3, "c": -1.5}]
    assert comps[1].top_logprobs is None


def test_sum_prompt_logprobs_counts_only_the_continuation():
    ids = [10, 11, 12, 13]
    plp = [None, {11: Logprob(-1.0, 1)}, {12: Logprob(-0.25, 3), 99: Logprob(-0.1, 1)}, {13: Logprob(-0.5, 1)}]
    res = sum_prompt_logprobs(plp, ids, start=2)
    assert res.n_tokens == 2 and res.logprob == pytest.approx(-0.75)
    assert sum_prompt_logprobs(plp, ids, start=4).n_tokens == 0
    assert sum_prompt_logprobs(plp, ids, start=0).n_tokens == 3  # position 0 has no context
    with pytest.raises(DataError, match="position 2"):
        sum_prompt_logprobs([None, plp[1], {99: Logprob(-0.1)}, plp[3]], ids, start=1)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_missing_vllm_names_the_install_command():
    from synthkit.llm.vllm_backend import VLLM

    with pytest.raises(MissingDependency, match=r"pip install 'synthkit\[vllm\]'"):
        VLLM(LLMConfig(backend="vllm"))


def _has_gpu_vllm() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not _has_gpu_vllm(), reason="needs vllm and a CUDA device")
def test_vllm_generate_and_logprobs_match_transformers():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from synthkit.llm.embedded import embedded_model_dir
    from synthkit.llm.vllm_backend import VLLM

    llm = VLLM(LLMConfig(backend="vllm", model="embedded", dtype="float32",
                         engine_kwargs={"gpu_memory_utilization": 0.3, "enforce_eager": True}))
    chat = [{"role": "user", "content": "Write a Python function that adds two numbers."}]
    out = llm.generate([chat, "def add(a, b):"], SamplingParams(n=2, temperature=0.0, max_tokens=16))
    assert [len(o) for o in out] == [2, 2] and all(0 < c.tokens <= 16 for o in out for c in o)
    cont = "\n    return a + b\n"
    got = llm.logprobs(["def add(a, b):"], [cont])[0]
    llm.close()

    path = embedded_model_dir()
    tok, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path)
    p, c = tok("def add(a, b):")["input_ids"], tok(cont, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = model(torch.tensor([p + c])).logits[0].float()
    lp = torch.log_softmax(logits[len(p) - 1:-1], -1).gather(1, torch.tensor(c)[:, None]).sum().item()
    assert got.n_tokens == len(c) and got.logprob == pytest.approx(lp, abs=1e-2)

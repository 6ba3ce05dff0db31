"""TransformersLLM on the embedded model (SmolLM2-135M, CPU): logprobs agree
with a hand-written forward pass, generate honours n / stop / max_tokens /
chat templates / seeds. Short generations only; the model loads once."""

from __future__ import annotations

import math

import pytest

from synthkit.llm.base import LLM, LLMConfig, SamplingParams

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow  # a real 135M model on CPU: seconds per test, not milliseconds

CHAT = [{"role": "user", "content": "Write a Python function that adds two numbers."}]
CODE = "def add(a, b):"


@pytest.fixture(scope="module")
def llm():
    from synthkit.llm.transformers_backend import TransformersLLM

    model = TransformersLLM(LLMConfig(backend="transformers", model="embedded", device="cpu", batch_size=4))
    yield model
    model.close()


def _by_hand(llm, prompt_ids: list[int], cont_ids: list[int]) -> float:
    """Sum of ln p(cont token | everything before), one unpadded forward pass."""
    ids = torch.tensor([prompt_ids + cont_ids])
    with torch.no_grad():
        logits = llm.model(input_ids=ids).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    start = len(prompt_ids)
    return sum(logp[start + j - 1, t].item() for j, t in enumerate(cont_ids))


def test_is_an_llm(llm):
    assert isinstance(llm, LLM) and llm.model_id == "embedded"


def test_logprobs_match_direct_forward(llm):
    tok = llm.tokenizer
    prompts = [CHAT, CODE, "x"]
    conts = ["def add(a, b):\n    return a + b", "\n    return a + b\n", " = 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8"]
    got = llm.logprobs(prompts, conts)  # differing lengths: exercises left padding
    rendered = tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    prompt_ids = [
        tok(rendered, add_special_tokens=False)["input_ids"],
        tok(CODE)["input_ids"],
        tok("x")["input_ids"],
    ]
    for g, p_ids, cont in zip(got, prompt_ids, conts):
        c_ids = tok(cont, add_special_tokens=False)["input_ids"]
        assert g.n_tokens == len(c_ids)
        assert abs(g.logprob - _by_hand(llm, p_ids, c_ids)) < 1e-3
        assert g.logprob < 0 and math.isfinite(g.perplexity)


@pytest.fixture(scope="module")
def sampled_twice(llm):
    p = SamplingParams(n=3, temperature=1.0, max_tokens=5, seed=123)
    return llm.generate([CHAT, CODE], p), llm.generate([CHAT, CODE], p)


@pytest.fixture(scope="module")
def greedy_twice(llm):
    p = SamplingParams(n=2, temperature=0, max_tokens=10)
    return llm.generate([CODE], p), llm.generate([CODE], p)


def test_generate_n_counts_and_finish_reasons(llm, sampled_twice):
    out = sampled_twice[0]
    assert [len(cs) for cs in out] == [3, 3]
    for cs in out:
        for c in cs:
            assert 1 <= c.tokens <= 5 and c.prompt_tokens > 0
            assert c.finish_reason == ("length" if c.tokens == 5 else "stop")
            if c.finish_reason == "length":  # the text is what those tokens decode to
                assert c.text and len(llm.tokenizer(c.text, add_special_tokens=False)["input_ids"]) <= 7
    assert any(len({c.text for c in cs}) > 1 for cs in out)  # sampling, not greedy copies


def test_seed_reproduces_sampling(sampled_twice):
    a, b = sampled_twice
    assert [[c.text for c in cs] for cs in a] == [[c.text for c in cs] for cs in b]


def test_greedy_is_deterministic_and_n_copies(greedy_twice):
    a, b = greedy_twice
    assert [c.text for c in a[0]] == [c.text for c in b[0]]
    assert a[0][0].text == a[0][1].text


def test_chat_prompt_goes_through_template(llm):
    rendered = llm.tokenizer.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    p = SamplingParams(temperature=0, max_tokens=6)
    via_chat, via_text = llm.generate([CHAT, rendered], p)
    assert via_chat[0].text == via_text[0].text
    assert via_chat[0].prompt_tokens == via_text[0].prompt_tokens
    assert via_chat[0].prompt_tokens > len(llm.tokenizer(CHAT[0]["content"])["input_ids"]) + 5


def test_stop_string_truncates(llm, greedy_twice):
    free = greedy_twice[0][0][0]
    words = free.text.split()
    assert len(words) >= 2, free.text
    stop = words[1]  # occurs in the greedy text, so greedy decoding must hit it
    (cut,), = llm.generate([CODE], SamplingParams(temperature=0, max_tokens=10, stop=(stop,)))
    assert cut.finish_reason == "stop"
    assert cut.text == free.text[: free.text.find(stop)]
    assert stop not in cut.text and cut.tokens <= free.tokens


def test_top_logprobs(llm):
    (c,), = llm.generate([CODE], SamplingParams(temperature=0, max_tokens=4, top_logprobs=3))
    assert c.top_logprobs is not None and len(c.top_logprobs) == c.tokens
    for step in c.top_logprobs:
        vals = list(step.values())
        assert 1 <= len(vals) <= 3 and all(v <= 0 for v in vals) and vals == sorted(vals, reverse=True)
        assert sum(math.exp(v) for v in vals) <= 1 + 1e-5


def test_batch_larger_than_batch_size_keeps_order(llm):
    prompts = [f"# {i}\n" + CODE for i in range(6)]  # batch_size=4: two generate calls
    p = SamplingParams(temperature=0, max_tokens=2)
    together = llm.generate(prompts, p)
    alone = llm.generate([prompts[5]], p)
    assert len(together) == 6 and together[5][0].prompt_tokens == alone[0][0].prompt_tokens
    assert together[5][0].text == alone[0][0].text  # left padding does not change greedy output


def test_threads_caps_torch_cpu_threads():
    import torch

    from synthkit.llm.transformers_backend import TransformersLLM

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        TransformersLLM(LLMConfig(backend="transformers", model="embedded", device="cpu", threads=1)).close()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)

"""DummyLLM: determinism, canned-response cycling, stop/length, logprobs."""

from __future__ import annotations

from synthkit.llm.base import LLM, LLMConfig, SamplingParams
from synthkit.llm.dummy import DummyLLM, response_index, token_logprob
from synthkit.llm.factory import make_llm


def _llm(**kw) -> DummyLLM:
    return make_llm(LLMConfig(backend="dummy", **kw))


def test_protocol_and_model_id():
    llm = _llm(model="m1")
    assert isinstance(llm, LLM)
    assert llm.model_id == "dummy:m1"


def test_pure_function_of_prompt_k_seed():
    llm = _llm()
    params = SamplingParams(n=3, seed=7)
    a = llm.generate(["x", "y"], params)
    b = llm.generate(["y", "x"], params)  # order and batch do not matter
    assert [c.text for c in a[0]] == [c.text for c in b[1]]
    assert len({c.text for c in a[0]}) == 3
    other_seed = llm.generate(["x"], SamplingParams(n=3, seed=8))
    assert [c.text for c in other_seed[0]] != [c.text for c in a[0]]


def test_canned_responses_cover_all_when_n_equals_len():
    responses = ["alpha one", "beta two", "gamma three"]
    llm = _llm(dummy_responses=responses)
    chat = [{"role": "user", "content": "hi"}]
    out = llm.generate(["p", chat], SamplingParams(n=3, seed=1))
    for prompt, comps in zip(["p", chat], out):
        assert sorted(c.text for c in comps) == sorted(responses)
        assert comps[0].text == responses[response_index(prompt, 0, 1, 3)]
        assert all(c.tokens == 2 and c.finish_reason == "stop" for c in comps)


def test_stop_and_length():
    llm = _llm(dummy_responses=["a b c END d e"])
    (c,), = llm.generate(["p"], SamplingParams(stop=("END",)))
    assert (c.text, c.tokens, c.finish_reason) == ("a b c ", 3, "stop")
    (c,), = llm.generate(["p"], SamplingParams(max_tokens=2))
    assert (c.text, c.tokens, c.finish_reason) == ("a b", 2, "length")


def test_top_logprobs_and_logprobs():
    llm = _llm(dummy_responses=["a b"])
    (c,), = llm.generate(["p"], SamplingParams(top_logprobs=3))
    assert len(c.top_logprobs) == 2 and list(c.top_logprobs[0])[0] == "a"
    assert abs(sum(2.718281828 ** v for v in c.top_logprobs[0].values()) - 1) < 1e-6
    lp = llm.logprobs(["p", "q"], ["a b", ""])
    assert lp[0].n_tokens == 2 and lp[1].n_tokens == 0
    assert lp[0].logprob == token_logprob("a") + token_logprob("b")
    assert -3.0 <= token_logprob("zz") <= -0.1


def test_length_cut_keeps_original_spacing():
    llm = _llm(dummy_responses=["def f(x):\n    y = x\n    return y"])
    (c,), = llm.generate(["p"], SamplingParams(max_tokens=5))
    assert (c.text, c.tokens, c.finish_reason) == ("def f(x):\n    y = x", 5, "length")

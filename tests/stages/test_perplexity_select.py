"""perplexity_select: perplexity under the base model, draws weighted by softmax(alpha * ppl)."""

from __future__ import annotations

import math
from collections import Counter

import datasets
import pytest

from synthkit.core.stage import StageContext
from synthkit.errors import ConfigError
from synthkit.llm.base import LLMConfig
from synthkit.stages.perplexity_select import PerplexitySelect, draw_probabilities

# chi-square critical values at p = 0.001 (df = pool size - 1)
CHI2_999 = {3: 16.266, 4: 18.467, 5: 20.515}


def make(tmp_path, llm=None, checkpoints=(), seed=0, **cfg) -> PerplexitySelect:
    ctx = StageContext(index=2, seed=seed, stage_dir=tmp_path / "stage", base_dir=tmp_path,
                       llm_config=llm or LLMConfig(backend="dummy", model="base"), checkpoints=list(checkpoints))
    return PerplexitySelect(PerplexitySelect.Config(stage="perplexity_select", **cfg), ctx)


def pooled(tid: str, j: int, code: str, prompt="### Task\nAdd.\n### Solution\n```python\n",
           header='def f():\n    """Add."""\n') -> dict:
    return {"id": f"{tid}/0-{j}-0", "instruction": f"seed description of {tid}", "code": code, "response": code,
            "body": code, "verify": {"passed": True},
            "meta": {"task_id": tid, "origin": "sample", "prompt": prompt, "header": header, "step": j}}


def seed(tid: str) -> dict:
    return {"id": f"{tid}/seed", "instruction": f"seed description of {tid}", "code": "def f():\n    return 0\n",
            "meta": {"task_id": tid, "origin": "seed"}}


POOL = [pooled("t0", j, code) for j, code in enumerate([
    "def f():\n    return 1\n", "def f():\n    x = [i for i in range(3)]\n    return sum(x)\n",
    "def f():\n    import math\n    return math.floor(1.5)\n", "def f(): return int('1')\n",
    "def f():\n    return (lambda: 1)()\n"])]


def test_draw_frequencies_match_softmax_of_alpha_times_perplexity(tmp_path):
    draws, alpha = 10_000, 2.0
    kept, rejected = make(tmp_path, draws=draws, alpha=alpha).process_all(datasets.Dataset.from_list(POOL + [seed("t0")]))
    drawn = [r for r in kept if r["meta"]["origin"] == "draw"]
    assert len(drawn) == draws and not rejected
    ppl = {r["meta"]["drawn_from"]: r["scores"]["perplexity"] for r in drawn}
    assert len(set(ppl.values())) == len(POOL)           # the dummy gives every code its own perplexity
    logits = {k: alpha * v for k, v in ppl.items()}
    top = max(logits.values())
    expected = {k: math.exp(v - top) for k, v in logits.items()}
    total = sum(expected.values())
    counts = Counter(r["meta"]["drawn_from"] for r in drawn)
    chi2 = sum((counts[k] - draws * e / total) ** 2 / (draws * e / total) for k, e in expected.items())
    assert chi2 < CHI2_999[len(POOL) - 1], (chi2, counts, expected)
    # the same test rejects the wrong weighting (uniform) on the same draws: it has power
    chi2_uniform = sum((counts[k] - draws / len(POOL)) ** 2 / (draws / len(POOL)) for k in expected)
    assert chi2_uniform > 10 * CHI2_999[len(POOL) - 1]
    assert all(r["meta"]["draw_probability"] == pytest.approx(expected[r["meta"]["drawn_from"]] / total, abs=1e-6)
               for r in drawn[:50])


def test_uniform_weighting_draws_evenly(tmp_path):
    draws = 10_000
    kept, _ = make(tmp_path, draws=draws, weighting="uniform").process_all(datasets.Dataset.from_list(POOL))
    counts = Counter(r["meta"]["drawn_from"] for r in kept)
    chi2 = sum((c - draws / len(POOL)) ** 2 / (draws / len(POOL)) for c in counts.values())
    assert len(counts) == len(POOL) and chi2 < CHI2_999[len(POOL) - 1]
    assert draw_probabilities([1.0, 2.0], 2.0) == pytest.approx([1 / (1 + math.e ** 2), 1 / (1 + math.e ** -2)])


def test_duplicates_get_distinct_ids_and_sft_rows_pair_the_seed_description(tmp_path):
    pool = POOL[:2] + [pooled("t1", 0, "def g():\n    return 2\n")]
    kept, rejected = make(tmp_path, draws=8).process_all(datasets.Dataset.from_list(pool + [seed("t0"), seed("t1")]))
    drawn = [r for r in kept if r["meta"]["origin"] == "draw"]
    assert [r["id"] for r in drawn] == [f"t0/draw-{j}" for j in range(8)] + [f"t1/draw-{j}" for j in range(8)]
    assert len({r["meta"]["drawn_from"] for r in drawn if r["meta"]["task_id"] == "t1"}) == 1  # 8 copies, kept
    for r in drawn:
        assert r["messages"] == [{"role": "user", "content": f"seed description of {r['meta']['task_id']}"},
                                 {"role": "assistant", "content": f"```python\n{r['code'].strip()}\n```"}]
    assert sorted(r["id"] for r in kept if r["meta"]["origin"] == "seed") == ["t0/seed", "t1/seed"]
    assert all(r["messages"][1]["content"].startswith("```python") for r in kept)
    assert {x.reason for x in rejected} <= {"not_drawn"}
    report = (tmp_path / "stage" / "diversity.json").read_text()
    assert '"tasks": 2' in report


def test_seed_pairs_can_be_left_out_and_unscorable_rows_are_rejected(tmp_path):
    rows = [POOL[0], {**POOL[1], "meta": {**POOL[1]["meta"], "header": None}}, {**POOL[2], "body": " "},
            seed("t0")]
    kept, rejected = make(tmp_path, draws=2, include_seed=False).process_all(datasets.Dataset.from_list(rows))
    assert sorted(x.reason for x in rejected) == ["empty_code", "no_prompt", "seed_excluded"]
    assert [r["meta"]["drawn_from"] for r in kept] == [POOL[0]["id"]] * 2


def test_perplexity_equals_a_direct_forward_pass_on_a_tiny_model(tmp_path, tiny_model_dir, tiny_tokenizer):
    import torch
    from transformers import AutoModelForCausalLM

    chat = [{"role": "user", "content": "Write add(a, b)."}]
    rows = [pooled("t0", 0, "def add(a, b):\n    return a + b\n", prompt="Write a function.\n"),
            pooled("t0", 1, "for i in range(10):\n    total += i * 2\n", prompt=chat),
            pooled("t1", 0, "print('hello world')\n", prompt="```python\n")]
    llm = LLMConfig(backend="transformers", model=str(tiny_model_dir), device="cpu", batch_size=4, cache=False)
    got = {}
    for part in ([rows[0], rows[2]], [rows[1]]):  # a Dataset column holds text prompts or chat ones, not both
        kept, rejected = make(tmp_path, llm=llm, draws=1, score="response").process_all(datasets.Dataset.from_list(part))
        got.update({r["meta"]["drawn_from"]: r["scores"]["perplexity"] for r in kept})
        got.update({x.row["id"]: x.row["scores"]["perplexity"] for x in rejected})   # not drawn, but scored
    assert sorted(got) == sorted(r["id"] for r in rows)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    for row in rows:
        prompt = row["meta"]["prompt"]
        if isinstance(prompt, str):
            p_ids = tiny_tokenizer(prompt)["input_ids"]
        else:
            p_ids = tiny_tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)
            p_ids = p_ids["input_ids"] if isinstance(p_ids, dict) or hasattr(p_ids, "keys") else p_ids
        c_ids = tiny_tokenizer(row["response"], add_special_tokens=False)["input_ids"]
        ids = torch.tensor([list(p_ids) + c_ids])
        with torch.no_grad():
            logp = model(ids).logits[0, :-1].log_softmax(-1)
        nll = -sum(logp[len(p_ids) - 1 + i, t].item() for i, t in enumerate(c_ids)) / len(c_ids)
        assert got[row["id"]] == pytest.approx(math.exp(nll), rel=1e-4), row["id"]


def test_default_perplexity_is_the_code_body_given_the_plain_header(tmp_path, tiny_model_dir, tiny_tokenizer):
    import torch
    from transformers import AutoModelForCausalLM

    header = 'def add(a, b):\n    """Add a and b."""\n'
    body = "    return a + b\n"
    row = {**pooled("t0", 0, header + body, prompt=[{"role": "user", "content": "chat wrapper"}], header=header),
           "body": body, "response": "Sure! ```python\n" + header + body + "```"}
    llm = LLMConfig(backend="transformers", model=str(tiny_model_dir), device="cpu", batch_size=4, cache=False)
    kept, _ = make(tmp_path, llm=llm, draws=1).process_all(datasets.Dataset.from_list([row]))
    p_ids = tiny_tokenizer(header)["input_ids"]
    c_ids = tiny_tokenizer(body, add_special_tokens=False)["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    with torch.no_grad():
        logp = model(torch.tensor([list(p_ids) + c_ids])).logits[0, :-1].log_softmax(-1)
    nll = -sum(logp[len(p_ids) - 1 + i, t].item() for i, t in enumerate(c_ids)) / len(c_ids)
    assert kept[0]["scores"]["perplexity"] == pytest.approx(math.exp(nll), rel=1e-4)


def test_drawn_training_rows_lose_their_docstrings(tmp_path):
    code = 'def f():\n    """A description the chain sampled from."""\n    return 1\n'
    kept, _ = make(tmp_path, draws=2).process_all(datasets.Dataset.from_list([pooled("t0", 0, code)]))
    assert kept and all(r["messages"][1]["content"] == "```python\ndef f():\n    return 1\n```" for r in kept)
    assert all(r["code"] == code for r in kept)   # the verified code itself is kept as it was


def test_check_refuses_a_trained_checkpoint_as_the_scoring_model(tmp_path):
    stage = make(tmp_path, llm=LLMConfig(backend="dummy", model="/runs/round_01/train/checkpoint-4/merged"),
                 checkpoints=["/runs/round_01/train/checkpoint-4/merged"])
    with pytest.raises(ConfigError, match="base model"):
        stage.check()
    make(tmp_path, checkpoints=["/runs/round_01/train/checkpoint-4/merged"]).check()   # the base: fine

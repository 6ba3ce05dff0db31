"""rft_sample: RFT keeps the passing samples of the seed description; RFT+RD adds described pairs."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from synthkit.core.pipeline import Pipeline
from synthkit.core.stage import StageContext
from synthkit.llm.base import Completion, LLMConfig
from synthkit.stages.rft_sample import RftSample

ROOT = Path(__file__).resolve().parents[2]


def task(i: int) -> dict:
    name = f"mul{i}"
    return {"id": f"t{i}", "instruction": f"Write {name}(a, b) returning a * b.", "entry_point": name,
            "tests": f"assert {name}(2, 3) == 6\n", "code": f"def {name}(a, b):\n    return a * b\n",
            "meta": {"task_id": f"t{i}"}}


class Fake:
    """Sample k of a code prompt passes when k is even; summaries are empty for sample 0's code."""

    model_id = "fake"

    def __init__(self):
        self.calls = []

    def generate(self, prompts, params):
        self.calls.append((list(prompts), params))
        out = []
        for p in prompts:
            text = p if isinstance(p, str) else p[-1]["content"]
            if "### Solution" in text:
                name = re.findall(r"def (\w+)\(", text)[-1]
                out.append([Completion(f"def {name}(a, b):\n    k = {k}\n    return a * b + k % 2\n", 9, "stop")
                            for k in range(params.n)])
            else:
                k = int(re.search(r"k = (\d+)", text).group(1))
                out.append([Completion("" if k == 0 else f"Multiply two numbers (variant {k}).", 5, "stop")])
        return out

    def logprobs(self, prompts, continuations):
        raise AssertionError("not used")

    def close(self):
        pass


def make(tmp_path, llm, checkpoints=(), **cfg) -> RftSample:
    ctx = StageContext(index=1, seed=0, stage_dir=tmp_path / "stage", base_dir=tmp_path,
                       llm_config=LLMConfig(backend="dummy"))
    ctx.make_llm = lambda model=None, config=None: llm
    return RftSample(RftSample.Config(stage="rft_sample", style="completion", workers=1,
                                      checkpoints=list(checkpoints), **cfg), ctx)


def test_n_is_gifts_budget_unless_set():
    assert RftSample.Config(stage="rft_sample").samples == 60   # GiFT's reference T = 20, k = 3
    assert RftSample.Config(stage="rft_sample", budget={"steps": 4, "k": 2}).samples == 8
    assert RftSample.Config(stage="rft_sample", budget={"steps": 4, "k": 2}, n=5).samples == 5
    with pytest.raises(Exception, match="stepz"):
        RftSample.Config(stage="rft_sample", budget={"stepz": 4})


def test_keeps_passing_samples_of_the_seed_description_and_describes_them(tmp_path):
    llm = Fake()
    stage = make(tmp_path, llm, budget={"steps": 2, "k": 2}, describe=True)
    try:
        out = stage.process([task(0), task(1), {**task(2), "tests": ""}])
    finally:
        stage.teardown()
    kept = [r for r in out if isinstance(r, dict)]
    dropped = sorted((r.row["id"], r.reason) for r in out if not isinstance(r, dict))
    assert [len(p) for p, _ in llm.calls] == [2, 4]          # one call for the codes, one for the descriptions
    assert llm.calls[0][1].n == 4 and llm.calls[0][1].temperature == 1.0
    assert all(task(0)["instruction"] in p for p in llm.calls[0][0][:1])
    samples = [r for r in kept if r["meta"]["origin"] == "sample"]
    assert sorted(r["id"] for r in samples) == ["t0/0-0", "t0/0-2", "t1/0-0", "t1/0-2"]
    assert all(r["verify"]["passed"] and r["instruction"] == r["meta"]["description"] for r in samples)
    assert all(r["messages"][0]["content"] == task(int(r["id"][1]))["instruction"] for r in samples)
    rd = {r["id"]: r for r in kept if r["meta"]["origin"] == "rd"}
    assert sorted(rd) == ["t0/0-2/rd", "t1/0-2/rd"]
    assert rd["t0/0-2/rd"]["instruction"] == "Multiply two numbers (variant 2)."
    assert rd["t0/0-2/rd"]["messages"][0]["content"] == "Multiply two numbers (variant 2)."
    assert rd["t0/0-2/rd"]["code"] == next(r["code"] for r in samples if r["id"] == "t0/0-2")
    assert [r["id"] for r in kept if r["meta"]["origin"] == "seed"] == ["t0/seed", "t1/seed"]
    assert dropped == [("t0/0-0/rd", "empty_summary"), ("t0/0-1", "failed"), ("t0/0-3", "failed"),
                       ("t1/0-0/rd", "empty_summary"), ("t1/0-1", "failed"), ("t1/0-3", "failed"), ("t2", "no_tests")]


def test_seed_pairs_once_across_checkpoints_and_unique_ids(tmp_path):
    llm = Fake()
    stage = make(tmp_path, llm, checkpoints=["a", "b"], n=2, include_seed=True)
    rows = []
    try:
        for name in stage.passes():
            stage.open_pass(name)
            rows += [r for r in stage.process([task(0)]) if isinstance(r, dict)]
            stage.close_pass()
    finally:
        stage.teardown()
    ids = [r["id"] for r in rows]
    assert ids == ["t0/seed", "t0/0-0", "t0/1-0"] and {r["meta"]["checkpoint"] for r in rows[1:]} == {"a", "b"}


def test_pipeline_run_writes_the_diversity_report(tmp_path):
    rows = [task(0), task(1)]
    answers = ["```python\ndef mul0(a, b):\n    return a * b\n```", "```python\ndef mul1(a, b):\n    return a * b\n```",
               "```python\ndef mul0(a, b):\n    return b * a * 1\n```"]
    pipe = Pipeline([{"stage": "rft_sample", "n": 3, "workers": 1}], name="r", workdir=tmp_path,
                    llm={"backend": "dummy", "dummy_responses": answers})
    out = pipe.run(dataset=rows)
    report = json.loads((tmp_path / "r" / "00_rft_sample" / "diversity.json").read_text())
    kept = [r for r in out.to_list() if r["meta"]["origin"] == "sample"]
    assert report["tasks"] == 2 and report["passing_codes"] == len(kept)
    assert report["per_task"]["t0"]["distinct_descriptions"] == 1
    assert report["per_task"]["t0"]["distinct_codes"] <= 2 and report["n"] == 3


def test_training_rows_per_task_are_capped_at_gifts_draws(tmp_path):
    llm = Fake()   # even samples pass: 8 of 16 per task
    stage = make(tmp_path, llm, budget={"steps": 4, "k": 4, "draws": 3}, include_seed=False)
    try:
        out = stage.process([task(0), task(1)])
    finally:
        stage.teardown()
    kept = [r for r in out if isinstance(r, dict)]
    over = [r for r in out if not isinstance(r, dict) and r.reason == "over_budget"]
    assert sorted(Counter(r["meta"]["task_id"] for r in kept).values()) == [3, 3]
    assert len(over) == 10 and all(r.row["verify"]["passed"] for r in over)
    stage = make(tmp_path / "rd", Fake(), budget={"steps": 4, "k": 4, "draws": 4}, describe=True, include_seed=False)
    try:
        out = stage.process([task(0)])
    finally:
        stage.teardown()
    rows = [r for r in out if isinstance(r, dict)]
    assert len(rows) <= 4 and sum(r["meta"]["origin"] == "sample" for r in rows) == 2   # 2 codes + their RD rows


def test_the_three_pipelines_share_one_budget_and_one_training_block():
    from synthkit.stages.perplexity_select import PerplexitySelect

    raw = {n: yaml.safe_load((ROOT / "pipelines" / f"{n}.yaml").read_text()) for n in ("gift", "rft", "rft_rd")}
    gibbs = next(s for s in raw["gift"]["stages"] if s["stage"] == "gibbs_resample")
    draws = PerplexitySelect.Config(**{k: v for k, v in next(
        s for s in raw["gift"]["stages"] if s["stage"] == "perplexity_select").items() if k != "llm"}).draws
    for name in ("rft", "rft_rd"):
        rft = RftSample.Config(**next(s for s in raw[name]["stages"] if s["stage"] == "rft_sample"))
        assert rft.samples == gibbs["steps"] * gibbs["k"], name     # the same sampling budget
        assert rft.rows_per_task == draws, name                     # the same training rows per task
        assert raw[name]["iterations"] == raw["gift"]["iterations"], name
        assert raw[name]["llm"] == raw["gift"]["llm"], name
        assert next(s for s in raw[name]["stages"] if s["stage"] == "load_seeds") == raw["gift"]["stages"][0]
    assert next(s for s in raw["rft_rd"]["stages"] if s["stage"] == "rft_sample")["describe"] is True

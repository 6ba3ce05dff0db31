from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from synthkit.core.record import Rejected
from synthkit.core.stage import StageContext
from synthkit.errors import ConfigError
from synthkit.llm.base import LLMConfig
from synthkit.stages.synthesize import Synthesize

GOOD = """[Problem]
Write a function `double(x)` that returns twice its argument.

[Entry Point]
double

[Solution]
```python
def double(x):
    return 2 * x
```

[Tests]
```python
assert double(2) == 4
assert double(0) == 0
```"""

NO_TESTS = GOOD[: GOOD.index("[Tests]")]
PROSE = "Here is an idea: doubling numbers is fun."


def make(tmp_path, responses, ctx_checkpoints=(), seed=0, **cfg):
    ctx = StageContext(index=1, seed=seed, stage_dir=tmp_path, base_dir=tmp_path, checkpoints=list(ctx_checkpoints),
                       llm_config=LLMConfig(backend="dummy", dummy_responses=responses))
    return Synthesize(Synthesize.Config(stage="synthesize", max_tokens=2000, **cfg), ctx)


def seeds(n=2):
    return [{"id": f"s{i}", "seed": f"def f{i}(x):\n    return x", "meta": {"module": "m", "line": i}}
            for i in range(n)]


def split(out):
    return [r for r in out if not isinstance(r, Rejected)], [r for r in out if isinstance(r, Rejected)]


def test_parses_answers_into_rows(tmp_path):
    st = make(tmp_path, [GOOD], n=2)
    kept, rej = split(st.process(seeds()))
    assert not rej and [r["id"] for r in kept] == ["s0/0-0", "s0/0-1", "s1/0-0", "s1/0-1"]
    r = kept[0]
    assert r["entry_point"] == "double" and r["tests"] == "assert double(2) == 4\nassert double(0) == 0"
    assert r["code"].strip() == "def double(x):\n    return 2 * x"
    assert r["messages"] == [{"role": "user", "content": r["instruction"]},
                             {"role": "assistant", "content": r["response"]}]
    assert r["seed"].startswith("def f0") and r["meta"]["module"] == "m"   # seed provenance kept
    assert r["meta"]["checkpoint"] == "embedded" and r["meta"]["stage"] == "synthesize"
    assert st.ctx.tokens_generated == 4 * len(GOOD.split())
    json.dumps(kept)


def test_unparseable_answers_are_rejected_never_empty(tmp_path):
    st = make(tmp_path, [GOOD, NO_TESTS, PROSE, ""], n=4)
    kept, rej = split(st.process(seeds(3)))
    assert len(kept) == 3 and all(r["instruction"] and r["code"] and r["tests"] for r in kept)
    assert sorted(r.reason for r in rej) == sorted(["empty", "no_problem", "no_tests"] * 3)
    assert any(r.row["response"] == PROSE for r in rej)


def test_rows_without_seed_are_rejected(tmp_path):
    kept, rej = split(make(tmp_path, [GOOD], n=1).process([{"id": "a", "seed": "  "}, {"id": "b"}]))
    assert not kept and [r.reason for r in rej] == ["no_seed", "no_seed"]


def test_multi_checkpoint_passes_tag_rows(tmp_path):
    st = make(tmp_path, [GOOD], n=1, checkpoints=["ckA", "ckB"])
    assert list(st.passes()) == ["ckA", "ckB"]
    out = []
    for name in st.passes():
        st.open_pass(name)
        out += st.process(seeds(1))
        st.close_pass()
    assert [r["id"] for r in out] == ["s0/0-0", "s0/1-0"]
    assert [(r["meta"]["checkpoint"], r["meta"]["model"]) for r in out] == [("ckA", "dummy:ckA"),
                                                                            ("ckB", "dummy:ckB")]


def test_iterative_rounds_use_last_checkpoints(tmp_path):
    st = make(tmp_path, [GOOD], ctx_checkpoints=["r1", "r2", "r3"], use_last_checkpoints=2)
    assert list(st.passes()) == ["r2", "r3"]
    assert list(make(tmp_path, [GOOD], use_last_checkpoints=2).passes()) == ["default"]
    with pytest.raises(Exception, match="unique"):
        Synthesize.Config(stage="synthesize", checkpoints=["a", "a"])


def test_same_seed_same_rows_other_seed_other_samples(tmp_path):
    answers = [GOOD, GOOD.replace("2 * x", "x + x"), GOOD.replace("2 * x", "x * 2")]
    a = make(tmp_path, answers, n=2).process(seeds(4))
    b = make(tmp_path, answers, n=2).process(seeds(4))
    assert a == b
    c = make(tmp_path, answers, n=2, seed=7).process(seeds(4))
    assert [r["code"] for r in a] != [r["code"] for r in c]
    assert {r["meta"]["seed"] for r in a} == {a[0]["meta"]["seed"]}


def test_custom_template_file_and_inline(tmp_path):
    (tmp_path / "p.txt").write_text("Make an exercise from:\n{seed}\n")
    kept, _ = split(make(tmp_path, [GOOD], n=1, template_file="p.txt").process(seeds(1)))
    assert len(kept) == 1
    (tmp_path / "bad.txt").write_text("no placeholder")
    with pytest.raises(ConfigError, match="template_file.*placeholder"):
        make(tmp_path, [GOOD], template_file="bad.txt")
    with pytest.raises(ConfigError, match="template_file: prompt file not found"):
        make(tmp_path, [GOOD], template_file="missing.txt")
    inline = make(tmp_path, [GOOD], n=1, template="Exercise from:\n{seed}\n")
    assert inline.template == "Exercise from:\n{seed}\n"
    with pytest.raises(ValidationError, match="not both"):
        make(tmp_path, [GOOD], template="x {seed}", template_file="p.txt")


def test_a_path_in_template_is_no_prompt_and_the_error_points_to_template_file(tmp_path):
    (tmp_path / "p.txt").write_text("Make an exercise from:\n{seed}\n")
    with pytest.raises(ValidationError, match=r"needs a \{seed\} placeholder \(a prompt file goes in `template_file`"):
        make(tmp_path, [GOOD], n=1, template="p.txt")
    st = make(tmp_path, [GOOD], n=1, template_file="p.txt", field="snippet")
    assert st.template.startswith("Make an exercise")
    kept, _ = split(st.process([{"id": "s0", "snippet": "def f(x):\n    return 2 * x\n"}]))
    assert len(kept) == 1


def test_runs_in_the_pipeline_with_one_shard_per_checkpoint(tmp_path):
    from synthkit.core.pipeline import Pipeline

    (tmp_path / "seeds.jsonl").write_text("".join(json.dumps(r) + "\n" for r in seeds(3)))
    p = Pipeline([{"stage": "load_seeds", "path": str(tmp_path / "seeds.jsonl")},
                  {"stage": "synthesize", "n": 2, "checkpoints": ["a", "b"], "shard_size": 2}],
                 name="t", llm={"backend": "dummy", "dummy_responses": [GOOD], "cache": False},
                 workdir=tmp_path / "runs")
    ds = p.run()
    assert len(ds) == 3 * 2 * 2 and len(set(ds["id"])) == 12
    shards = sorted(f.name for f in (tmp_path / "runs/t/01_synthesize/shards").iterdir())
    assert len(shards) == 4  # 2 checkpoints x 2 input shards


def test_completion_style_continues_the_opened_problem_section(tmp_path):
    continuation = GOOD[len("[Problem]\n"):] + "\nCode snippet:\n```python\nx = 1\n```"
    st = make(tmp_path, [continuation], n=1, style="completion")
    kept, rej = split(st.process(seeds(1)))
    assert not rej and kept[0]["instruction"].startswith("Write a function `double(x)`")
    assert "Code snippet" not in kept[0]["response"]   # the dummy honours the stop string

"""gibbs_resample: the chain's fallbacks, pooling, seeds, batching, trace and diversity report."""

from __future__ import annotations

import json
import re

import datasets
import pytest
from helpers.kill import kill_mid_run

from synthkit.core.pipeline import Pipeline
from synthkit.core.stage import StageContext
from synthkit.errors import ConfigError
from synthkit.llm.base import Completion, LLMConfig
from synthkit.prompts.gift import CODE_COMPLETION
from synthkit.stages.gibbs_resample import GibbsResample


def task(i: int, seed_code: bool = True) -> dict:
    name = f"add{i}"
    return {"id": f"t{i}", "instruction": f"Write {name}(a, b) returning a + b.", "entry_point": name,
            "tests": f"assert {name}(1, 2) == 3\nassert {name}(0, 5) == 5\n",
            "code": f'def {name}(a, b):\n    """Seed docstring."""\n    return a + b\n' if seed_code else None,
            "meta": {"task_id": f"t{i}"}}


def good(name: str, j: int = 0) -> str:
    return f"def {name}(a, b):\n    v = {j}\n    return a + b + v * 0\n"


def bad(name: str) -> str:
    return f"def {name}(a, b):\n    return a - b\n"


class Scripted:
    """A fake LLM. Code prompts (completion style) get ``script(step, entry_point, k)`` for
    sample k; summary prompts get ``Summary <n> of <entry point>``. Records every call."""

    model_id = "scripted"

    def __init__(self, script):
        self.script, self.calls, self.step = script, [], 0

    def generate(self, prompts, params):
        kind = "code" if "### Solution" in prompts[0] else "summary"
        self.step += kind == "code"
        self.calls.append((kind, list(prompts), params))
        out = []
        for p in prompts:
            if kind == "code":
                entry = re.findall(r"def (\w+)\(", p)[-1]
                out.append([Completion(self.script(self.step, entry, k), 5, "stop") for k in range(params.n)])
            else:
                entry = re.findall(r"def (\w+)", p)[-1]
                out.append([Completion(f"Summary {len(self.calls)} of {entry}.", 4, "stop")])
        return out

    def logprobs(self, prompts, continuations):
        raise AssertionError("the chain never scores")

    def close(self):
        pass


class Shared:
    """One sandbox for the whole module (starting one costs a second or two); stages may not close it."""

    sandbox = None

    def run(self, programs):
        if Shared.sandbox is None:
            from synthkit.sandbox import Sandbox

            Shared.sandbox = Sandbox(workers=1, timeout_s=5.0)
        return Shared.sandbox.run(programs)

    def close(self):
        pass


@pytest.fixture(scope="module", autouse=True)
def _close_shared_sandbox():
    yield
    if Shared.sandbox is not None:
        Shared.sandbox.close()
        Shared.sandbox = None


def make(tmp_path, llm, seed=0, **cfg) -> GibbsResample:
    ctx = StageContext(index=1, seed=seed, stage_dir=tmp_path / "stage", base_dir=tmp_path,
                       llm_config=LLMConfig(backend="dummy"))
    ctx.make_llm = lambda model=None, config=None: llm
    cfg = {"stage": "gibbs_resample", "style": "completion", "workers": 1, **cfg}
    stage = GibbsResample(GibbsResample.Config(**cfg), ctx)
    stage.codes.sandbox = Shared()
    return stage


def run(stage, tasks):
    try:
        return stage.process_all(datasets.Dataset.from_list(tasks))
    finally:
        stage.teardown()


def trace(stage) -> list[dict]:
    return [json.loads(line) for line in (stage.ctx.stage_dir / "trace.jsonl").read_text().splitlines()]


def test_fallbacks_seed_then_last_kept_and_summaries_of_the_kept_code(tmp_path):
    # t0: step 1 fails, step 2 passes, steps 3-4 fail; t1 (no seed solution) never passes
    llm = Scripted(lambda step, entry, k: good(entry, step) if (step == 2 and entry == "add0") else bad(entry))
    stage = make(tmp_path, llm, steps=4, k=2)
    kept, rejected = run(stage, [task(0), task(1, seed_code=False)])
    steps = {(t["task_id"], t["step"]): t for t in trace(stage)}
    assert [steps["t0", s]["fallback"] for s in (1, 2, 3, 4)] == ["seed", None, "last_kept", "last_kept"]
    assert [steps["t1", s]["fallback"] for s in (1, 2, 3, 4)] == ["none"] * 4
    summaries = [c for c in llm.calls if c[0] == "summary"]
    assert len(summaries) == 3                                   # none after the last step
    first, second, third = (c[1][0] for c in summaries)          # t1 has no code to summarise
    assert all(len(c[1]) == 1 for c in summaries)
    assert "return a + b\n" in first and "Seed docstring" not in first   # the seed solution, docstring stripped
    assert "v = 2" in second and "v = 2" in third                # step 2's kept code, then kept again
    # each step samples from the description the summary of the step before gave
    assert steps["t0", 1]["description"] == task(0)["instruction"]
    assert steps["t0", 2]["description"] == steps["t0", 1]["next_description"] == "Summary 2 of add0."
    assert steps["t0", 4]["description"] == steps["t0", 3]["next_description"]
    assert steps["t1", 4]["description"] == task(1)["instruction"]   # nothing to summarise: unchanged
    pooled = [r for r in kept if r["meta"]["origin"] == "sample"]
    assert [(r["id"], r["meta"]["step"]) for r in pooled] == [(pooled[0]["id"], 2)]
    assert pooled[0]["meta"]["description"] == "Summary 2 of add0." and pooled[0]["verify"]["passed"]
    assert pooled[0]["instruction"] == task(0)["instruction"]   # paired with the seed description
    assert pooled[0]["messages"][1]["content"].startswith("```python\ndef add0")
    assert [r["id"] for r in kept if r["meta"]["origin"] == "seed"] == ["t0/seed"]   # t1 has no seed pair
    assert sorted(r.reason for r in rejected) == ["failed"] * 14 + ["not_kept"]   # step 2: both passed


def test_one_batched_call_per_step_across_all_chains(tmp_path):
    llm = Scripted(lambda step, entry, k: good(entry, k))
    run(make(tmp_path, llm, steps=3, k=3), [task(i) for i in range(5)])
    assert [(kind, len(prompts), p.n) for kind, prompts, p in llm.calls] == [
        ("code", 5, 3), ("summary", 5, 1), ("code", 5, 3), ("summary", 5, 1), ("code", 5, 3)]
    summary = llm.calls[1][2]
    assert (summary.temperature, summary.top_p) == (1.0, 0.95)


@pytest.mark.parametrize("pool", ["kept", "all_passing"])
def test_pool_kept_is_one_code_per_step_all_passing_is_every_pass(tmp_path, pool):
    llm = Scripted(lambda step, entry, k: bad(entry) if k == 2 else good(entry, 10 * step + k))
    stage = make(tmp_path, llm, steps=3, k=3, pool=pool, include_seed=False)
    kept, rejected = run(stage, [task(0), task(1)])
    reasons = sorted(r.reason for r in rejected)
    if pool == "kept":
        assert sorted((r["meta"]["task_id"], r["meta"]["step"]) for r in kept) == [
            (t, s) for t in ("t0", "t1") for s in (1, 2, 3)]
        assert reasons == ["failed"] * 6 + ["not_kept"] * 6
    else:
        assert len(kept) == 2 * 3 * 2 and reasons == ["failed"] * 6
    assert len({r["id"] for r in kept}) == len(kept)
    report = json.loads((stage.ctx.stage_dir / "diversity.json").read_text())
    assert report["coverage"] == 1.0 and report["per_task"]["t0"]["distinct_codes"] == (3 if pool == "kept" else 6)
    assert stage.extra_stats()["diversity"]["tasks"] == 2


def test_the_keep_is_random_among_passing_codes_and_seeded(tmp_path):
    llm = Scripted(lambda step, entry, k: good(entry, k))
    picks = []
    for seed in (0, 0, 1):
        stage = make(tmp_path / str(len(picks)), Scripted(llm.script), seed=seed, steps=6, k=3, include_seed=False)
        kept, _ = run(stage, [task(0)])
        picks.append([r["meta"]["sample"] for r in kept])
    assert picks[0] == picks[1] and picks[0] != picks[2]
    assert len(set(picks[0] + picks[2])) > 1


def test_step_seeds_differ_so_a_fallback_step_does_not_replay_the_cached_answer(tmp_path):
    # dummy answers are prose (no code): nothing passes and, without a seed solution, the
    # description never changes; only the seed can make step 2's answers differ from step 1's
    def chain(folder, seed):
        ctx = StageContext(index=1, seed=seed, stage_dir=tmp_path / folder, base_dir=tmp_path,
                           llm_config=LLMConfig(backend="dummy"), cache_dir=tmp_path / "cache")
        stage = GibbsResample(GibbsResample.Config(stage="gibbs_resample", steps=3, k=2), ctx)
        run(stage, [task(0, seed_code=False), task(1, seed_code=False)])
        return [json.loads((ctx.stage_dir / "chain" / "c00" / f"step-{s:04d}.json").read_text()) for s in (1, 2, 3)]

    steps = chain("a", 3)
    seeds = [s["code_seed"] for s in steps]
    assert len(set(seeds)) == 3
    answers = [{r["row"]["response"] for r in s["rejected"] if r["row"]["meta"]["task_id"] == "t0"} for s in steps]
    assert answers[0].isdisjoint(answers[1]) and answers[1].isdisjoint(answers[2])
    assert {r["reason"] for s in steps for r in s["rejected"]} == {"no_code"}
    # reproducible from the pipeline seed (the cache answers), and another pipeline seed samples otherwise
    again, other = chain("b", 3), chain("c", 4)
    assert [s["code_seed"] for s in again] == seeds and again == steps
    assert all(o["code_seed"] not in seeds for o in other)


def test_resume_reads_finished_steps_and_loads_the_model_once_for_the_rest(tmp_path):
    def script(step, entry, k):
        return good(entry, 10 * step + k) if k else bad(entry)

    whole = Scripted(script)
    full, _ = run(make(tmp_path / "whole", whole, steps=4, k=2), [task(0), task(1)])
    # a run killed after step 2: its step files exist, the rest do not
    part = make(tmp_path / "part", Scripted(script), steps=4, k=2)
    run(part, [task(0), task(1)])
    for s in (3, 4):
        (part.ctx.stage_dir / "chain" / "c00" / f"step-{s:04d}.json").unlink()
    loads, resumed_llm = [], Scripted(script)
    resumed_llm.step = 2
    stage = make(tmp_path / "part", resumed_llm, steps=4, k=2)
    stage.ctx.make_llm = lambda model=None, config=None: loads.append(model) or resumed_llm
    kept, _ = run(stage, [task(0), task(1)])
    assert loads == [None] and [c[0] for c in resumed_llm.calls] == ["code", "summary", "code"]
    assert [r["id"] for r in kept] == [r["id"] for r in full]
    assert [r["code"] for r in kept] == [r["code"] for r in full]
    # nothing left to do: the model is not even loaded
    loads.clear()
    stage = make(tmp_path / "part", resumed_llm, steps=4, k=2)
    stage.ctx.make_llm = lambda model=None, config=None: loads.append(model) or resumed_llm
    run(stage, [task(0), task(1)])
    assert loads == []


def test_tasks_without_description_or_tests_are_rejected_with_a_reason(tmp_path):
    llm = Scripted(lambda step, entry, k: good(entry))
    kept, rejected = run(make(tmp_path, llm, steps=1, k=1),
                         [{**task(0), "instruction": " "}, {**task(1), "tests": None}, task(2)])
    assert sorted(r.reason for r in rejected) == ["no_description", "no_tests"]
    assert {r["meta"]["task_id"] for r in kept} == {"t2"}


def test_a_template_without_description_warns_and_ignores_the_chain(tmp_path, caplog):
    llm = Scripted(lambda step, entry, k: good(entry, step))
    template = CODE_COMPLETION.replace("{header}", '"""{instruction}"""\ndef {entry_point}(a, b):\n')
    stage = make(tmp_path, llm, steps=3, k=1, template=template)
    assert "ignore the resampled" in caplog.text or "ignores the resampled" in caplog.text
    run(stage, [task(0)])
    code_prompts = [c[1][0] for c in llm.calls if c[0] == "code"]
    assert len(set(code_prompts)) == 1 and task(0)["instruction"] in code_prompts[0]


def test_diversity_counts_renamed_copies_once_and_unsolved_tasks_in_coverage():
    from synthkit.eval.diversity import diversity_report

    passed = {"passed": True}
    rows = [{"id": "a/1", "code": "def f(x):\n    return x + 1\n", "verify": passed, "instruction": "Add one.",
             "meta": {"task_id": "a", "description": "Add one."}},
            {"id": "a/2", "code": "def g(y):  # renamed\n    return y + 1\n", "verify": passed,
             "instruction": "Add one.", "meta": {"task_id": "a", "description": "Increment  a NUMBER."}},
            {"id": "a/3", "code": "def f(x):\n    return x - -1\n", "verify": passed, "instruction": "Add one.",
             "meta": {"task_id": "a", "description": "increment a number."}},
            {"id": "a/seed", "code": "def f(x):\n    return 1 + x\n", "instruction": "Add one.",
             "meta": {"task_id": "a", "origin": "seed"}},
            {"id": "b/1", "code": "def h():\n    return 0\n", "verify": {"passed": False}, "meta": {"task_id": "b"}}]
    report = diversity_report(rows, ["a", "b", "c"])
    assert report["per_task"]["a"] == {"passing_codes": 3, "distinct_codes": 2, "distinct_descriptions": 2}
    assert report["per_task"]["c"] == {"passing_codes": 0, "distinct_codes": 0, "distinct_descriptions": 0}
    assert (report["tasks"], report["solved_tasks"], report["coverage"]) == (3, 1, 0.3333)
    assert report["distinct_codes_per_task"] == round(2 / 3, 4)


def test_summary_input_strips_docstrings_and_parsers_never_raise():
    from synthkit.prompts.answers import ParseError
    from synthkit.prompts.gift import parse_code, parse_summary, strip_docstrings

    code = 'def f(x):\n    """Doc."""\n    # why\n    return x\n\nclass A:\n    """Only a docstring."""\n'
    assert strip_docstrings(code) == "def f(x):\n    # why\n    return x\n\nclass A:\n    pass\n"
    assert strip_docstrings("def broken(:\n") == "def broken(:\n"
    assert parse_code("def f():\n    return 1\n```", "completion", "f") == "def f():\n    return 1\n"
    assert isinstance(parse_code("no code here", "chat"), ParseError)
    assert parse_summary("Description: Return x plus one.\n```python\nx\n```") == "Return x plus one."
    assert parse_summary("```python\nx = 1\n```").reason == "empty_summary"


def test_config_is_strict_and_templates_are_checked(tmp_path):
    with pytest.raises(Exception, match="temprature"):
        GibbsResample.Config(stage="gibbs_resample", temprature=1.0)
    with pytest.raises(Exception, match="not both"):
        GibbsResample.Config(stage="gibbs_resample", template="{description}", template_file="x.txt")
    with pytest.raises(Exception, match="needs a \\{code\\}"):
        GibbsResample.Config(stage="gibbs_resample", summary_template="describe it")
    with pytest.raises(Exception, match="pool"):
        GibbsResample.Config(stage="gibbs_resample", pool="best")
    with pytest.raises(ConfigError, match="template_file"):
        make(tmp_path, Scripted(None), template_file="missing.txt")


def test_code_prompts_carry_the_function_header_with_the_current_description(tmp_path):
    llm = Scripted(lambda step, entry, k: "    return a + b\n")   # completion: the body after the header
    mbpp = {**task(1), "code": f"import math\n{task(1)['code']}", "meta": {"task_id": "t1", "source": "mbpp"}}
    stage = make(tmp_path, llm, steps=2, k=1)
    kept, _ = run(stage, [task(0), mbpp])
    first, second = (c[1] for c in llm.calls if c[0] == "code")
    assert first[0].endswith('```python\ndef add0(a, b):\n    """Write add0(a, b) returning a + b.\n    """\n')
    assert first[1].endswith('```python\nimport math\n\ndef add1(a, b):\n    """Write add1(a, b) returning a + b.'
                             '\n    >>> add1(1, 2)\n    3\n    """\n')
    assert "Seed docstring" not in first[0]
    assert re.search(r'def add0\(a, b\):\n    """Summary \d+ of add0\.\n    """\n$', second[0])  # step 2: the summary
    rows = {r["id"]: r for r in kept if r["meta"]["origin"] == "sample"}
    row = rows["t0/0-1-0"]
    assert row["code"] == row["meta"]["header"] + "    return a + b\n" and row["body"] == "    return a + b\n"
    assert row["meta"]["header"] in row["meta"]["prompt"]
    assert row["messages"][1]["content"] == "```python\ndef add0(a, b):\n    return a + b\n```"   # no docstring


def test_chat_answers_are_scored_as_body_given_the_plain_header(tmp_path):
    class Chat(Scripted):
        def generate(self, prompts, params):
            self.calls.append(("chat", list(prompts), params))
            text = prompts[0][-1]["content"]
            if "```python" in text and "Complete" in text:   # the code prompt shows the header in a fence
                answer = 'Sure!\n```python\ndef add0(a, b):\n    """Adds."""\n    return a + b\n```\nDone.'
            else:
                answer = "Add two numbers."
            return [[Completion(answer, 9, "stop") for _ in range(params.n)] for _ in prompts]

    stage = make(tmp_path, Chat(None), steps=1, k=1, style="chat")
    kept, _ = run(stage, [task(0)])
    row = next(r for r in kept if r["meta"]["origin"] == "sample")
    assert row["code"] == 'def add0(a, b):\n    """Adds."""\n    return a + b\n'
    assert row["body"] == "    return a + b\n"
    assert row["meta"]["header"] == 'def add0(a, b):\n    """Write add0(a, b) returning a + b.\n    """\n'
    assert isinstance(row["meta"]["prompt"], list)            # the chat prompt is kept apart from the header


# --- SIGKILL mid-chain --------------------------------------------------------------

SLOW_RUN = """
import json, sys, time
from synthkit.core.pipeline import Pipeline
from synthkit.llm.dummy import DummyLLM

fast = DummyLLM.generate

def slow(self, prompts, params):
    time.sleep(0.2)  # the chain makes two calls per step
    return fast(self, prompts, params)

DummyLLM.generate = slow
spec = json.loads(open(sys.argv[1]).read())
Pipeline(spec["stages"], name=spec["name"], llm=spec["llm"], workdir=sys.argv[2]).run()
"""

STEPS = 8


def _spec(tmp_path) -> dict:
    seeds = tmp_path / "tasks.jsonl"
    seeds.write_text("".join(json.dumps(task(i)) + "\n" for i in range(3)))
    answers = [f"```python\n{good(f'add{i}', j)}```" for i in range(3) for j in range(2)] + [
        f"```python\n{bad('add0')}```", "Add two numbers a and b; the function is add1.", "Sum a and b in add2."]
    return {"name": "k", "llm": {"backend": "dummy", "cache": False, "dummy_responses": answers},
            "stages": [{"stage": "load_seeds", "path": str(seeds)},
                       {"stage": "gibbs_resample", "steps": STEPS, "k": 2, "workers": 1}]}


@pytest.mark.slow  # a subprocess and three runs: ~10 s on a quiet 2-vCPU machine, more under load
def test_sigkill_mid_chain_resumes_at_the_last_finished_step(tmp_path, monkeypatch):
    import os
    import sys
    from pathlib import Path

    from synthkit.core.rundir import load_dataset
    from synthkit.llm.dummy import DummyLLM

    root = Path(__file__).resolve().parents[2]
    spec = _spec(tmp_path)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "slow.py").write_text(SLOW_RUN)
    chain = tmp_path / "killed" / "k" / "01_gibbs_resample" / "chain" / "c00"
    before = kill_mid_run([sys.executable, str(tmp_path / "slow.py"), str(tmp_path / "spec.json"),
                           str(tmp_path / "killed")], tmp_path / "killed.log", chain, "step-*.json", 3,
                          env={**os.environ, "PYTHONPATH": str(root)}, cwd=tmp_path)
    done = len(before)
    assert 3 <= done < STEPS, f"kill landed after step {done} of {STEPS}; the test needs a mid-chain kill"
    assert not (chain.parent.parent / "_SUCCESS").exists()

    calls, loads = [], []
    fast, init = DummyLLM.generate, DummyLLM.__init__
    monkeypatch.setattr(DummyLLM, "generate", lambda self, prompts, params: calls.append(len(prompts))
                        or fast(self, prompts, params))
    monkeypatch.setattr(DummyLLM, "__init__", lambda self, config: loads.append(1) or init(self, config))
    resumed = Pipeline(spec["stages"], name="k", llm=spec["llm"], workdir=tmp_path / "killed").run()
    left = STEPS - done
    assert loads == [1]                                   # one model for all the steps left
    assert calls == [3] * (2 * left - 1)                  # codes and summaries of the unfinished steps only
    assert {p.name: p.stat().st_mtime_ns for p in chain.glob("step-*.json") if p.name in before} == before
    assert len(list(chain.glob("step-*.json"))) == STEPS

    clean = Pipeline(spec["stages"], name="k", llm=spec["llm"], workdir=tmp_path / "clean").run()
    assert untimed(resumed.to_list()) == untimed(clean.to_list()) and len(clean) > 3
    dirs = [d / "k" / "01_gibbs_resample" for d in (tmp_path / "killed", tmp_path / "clean")]
    assert untimed(load_dataset(dirs[0] / "rejected").to_list()) == untimed(load_dataset(dirs[1] / "rejected").to_list())
    assert (dirs[0] / "trace.jsonl").read_text() == (dirs[1] / "trace.jsonl").read_text()


def untimed(rows: list[dict]) -> list[dict]:
    """Rows without the sandbox's wall-clock durations, the one thing two runs may differ in."""
    return [{**r, "verify": {k: v for k, v in r["verify"].items() if k != "duration_s"}} if r.get("verify") else r
            for r in rows]

"""pipelines/scoder_full.yaml end to end on a CPU: bootstrap, a round, the final dataset, the code
model and its pass@k against the base, in one report. The synthesizer and the judge are the dummy
backend with the canned SCoder answers (the 135M model rarely writes a passing exercise); every
training, the influence filter and the evaluation run for real on the tiny test model."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from helpers.scoder_answers import ANSWERS, DOUBLE, SQUARE

from synthkit.core.pipeline import Pipeline
from synthkit.prompts.synthesize import PREFIX, parse_synthesis
from synthkit.rounds import run_rounds
from synthkit.rounds.samples import load_sample_file

ROOT = Path(__file__).resolve().parents[1]
TINY = '{max_steps: 1, per_device_train_batch_size: 2, max_length: 512, lora: {r: 2, lora_alpha: 4}}'


@pytest.mark.slow
def test_scoder_full_yaml_runs_the_whole_method_and_reports(tmp_path, tiny_model_dir):
    teacher = tmp_path / "teacher.jsonl"        # short prompts: the tiny model has 512 positions
    teacher.write_text("".join(json.dumps({"prompt": f"Code snippet:\n{s}", "answer": a}) + "\n"
                               for s, a in (("def twice(x): ...", DOUBLE), ("def sq(x): ...", SQUARE))))
    pipe = Pipeline.from_yaml(ROOT / "pipelines" / "scoder_full.yaml", overrides=[
        "llm.backend=dummy", f"llm.model={tiny_model_dir}", f"llm.dummy_responses={json.dumps(ANSWERS)}",
        "stages.0.limit=2", "stages.2.style=chat", "stages.2.n=5",
        "stages.4.style=chat", "stages.4.llm={dummy_responses: ['7']}",
        "stages.7.dim=64", "stages.7.fraction=0.5", f"stages.8.path={tmp_path / 'out'}",
        f"iterations.train={TINY}", f"iterations.bootstrap.file={teacher}",
        f"iterations.final.train={TINY}", "iterations.final.llm={backend: transformers}",
        "iterations.final.eval={tasks: 'bundled:test', limit: 2, n: 2, k: [1, 2], m: 2, max_tokens: 16}"],
        workdir=tmp_path / "runs")
    ds = run_rounds(pipe)
    run = pipe.run_dir
    # the round trained the synthesizer on the bootstrap's samples plus its own kept synthesis samples
    boot = datasets.load_from_disk(str(run / "bootstrap" / "train_data" / "data"))
    r1 = datasets.load_from_disk(str(run / "round_01" / "train_data" / "data"))
    influence = json.loads((run / "round_01" / "07_filter_influence" / "stats.json").read_text())
    assert influence["rows_in"] == 2 and influence["kept"] == 1    # double, square (dedup); influence keeps half
    assert len(boot) == 2 and len(r1) == 2 + 1
    assert all(m[-1]["content"] in (DOUBLE, SQUARE) for m in r1["messages"])
    # the final dataset came from the round's synthesizer, and the code model trained on its messages
    r1_ckpt = json.loads((run / "round_01" / "train" / "_SUCCESS").read_text())["checkpoints"][-1]
    assert {m["checkpoint"] for m in ds["meta"]} == {r1_ckpt}
    saved = datasets.load_dataset(str(tmp_path / "out"), split="train")
    code_data = datasets.load_from_disk(str(run / "final" / "code_data" / "data"))
    assert len(saved) == len(ds) == len(code_data) == 1
    assert sorted(map(json.dumps, code_data["messages"])) == sorted(map(json.dumps, saved["messages"]))
    report = json.loads((run / "method_report.json").read_text())
    assert report["dataset_rows"] == 1 and report["code_model_base"] == str(tiny_model_dir)
    assert Path(report["code_model"]).parent.parent == run / "final" / "code_model"
    for side in ("base", "trained"):
        assert report[side]["tasks"] == 2 and [r["k"] for r in report[side]["table"]] == [1, 2]
        assert all(0 <= r["pass_at_k"] <= 1 and 0 <= r["pass_at_k_m"] <= 1 for r in report[side]["table"]
                   if r["pass_at_k_m"] is not None)
        assert (run / "final" / f"eval_{side}" / "report.json").exists()
    assert report["synthesizer_checkpoints"][-1] == r1_ckpt
    md = (run / "method_report.md").read_text()
    assert "| k | pass@k base | pass@k trained |" in md and md.count("\n| ") == 1 + 2
    # a rerun redoes nothing: every stage, training and evaluation finished under the same fingerprint
    marks = {p: p.stat().st_mtime_ns for p in run.rglob("_SUCCESS")}
    assert len(ds) == len(run_rounds(pipe))
    assert marks == {p: p.stat().st_mtime_ns for p in run.rglob("_SUCCESS")}


def test_the_bundled_teacher_samples_parse_as_exercises():
    rows = load_sample_file(ROOT / "pipelines" / "data" / "scoder_teacher.jsonl")
    assert len(rows) == 4
    for msgs in rows["messages"]:
        assert msgs[0]["content"].endswith(PREFIX) and "Code snippet:" in msgs[0]["content"]
        parsed = parse_synthesis(PREFIX + msgs[1]["content"])
        assert parsed.entry_point in parsed.tests, parsed


def iterative(tmp_path, model_dir, fraction):
    return Pipeline.from_yaml(ROOT / "pipelines" / "scoder_iterative.yaml", overrides=[
        "llm.backend=dummy", f"llm.model={model_dir}", f"llm.dummy_responses={json.dumps(ANSWERS)}",
        "stages.0.limit=2", "stages.2.style=chat", "stages.2.n=5",
        "stages.2.template='Code snippet:\n{seed}\nWrite a new exercise.'",
        "stages.4.style=chat", "stages.4.llm={dummy_responses: ['7']}",
        "stages.7.dim=64", f"stages.7.fraction={fraction}", f"stages.8.path={tmp_path / 'out'}",
        f"iterations.train={TINY}"], workdir=tmp_path / "runs")


@pytest.mark.slow
def test_scoder_iterative_yaml_rounds_train_on_synthesis_samples_after_influence(tmp_path, tiny_model_dir):
    """The bundled loop, read from outside: what did each round train on?"""
    pipe = iterative(tmp_path, tiny_model_dir, 0.5)
    run_rounds(pipe)
    from synthkit.core.rundir import load_dataset

    for r, rows in ((1, 1), (2, 2)):          # influence keeps 1 of 2 a round; data: accumulate
        round_dir = pipe.run_dir / f"round_{r:02d}"
        assert [s.name for s in sorted(round_dir.glob("0*"))][1] == "01_decontaminate"     # the pool first
        assert json.loads((round_dir / "07_filter_influence" / "stats.json").read_text())["kept"] == 1
        data = datasets.load_from_disk(str(round_dir / "train_data" / "data"))
        assert len(data) == rows
        seeds = [s["seed"] for d in sorted(pipe.run_dir.glob("round_0*"))[:r]
                 for s in load_dataset(d / "00_load_seeds" / "shards")]
        for user, assistant in data["messages"]:
            assert user["role"] == "user" and any(seed in user["content"] for seed in seeds)
            assert assistant["role"] == "assistant" and assistant["content"] in (DOUBLE, SQUARE)
    first = json.loads((pipe.run_dir / "round_01" / "07_filter_influence" / "influence.json").read_text())
    assert first["train_rows_computed"] == 2
    # another selection over the same pool: the round's influence stage reruns on cached features
    run_rounds(iterative(tmp_path, tiny_model_dir, 1.0))
    again = json.loads((pipe.run_dir / "round_01" / "07_filter_influence" / "influence.json").read_text())
    assert again["train_rows_computed"] == 0 and len(again["kept"]) == 2

"""SCoder's rounds train the synthesizer on its synthesis samples; GiFT/RFT rounds on instruction rows;
the bootstrap trains on a teacher's samples (a live OpenAI-compatible stub on 127.0.0.1, or a file).

Sampling is the dummy backend (or the stub) with the canned SCoder answers; every training is the real
trainer on the tiny test model; seeds, sandbox and decontamination are real."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from helpers.scoder_answers import ANSWERS, DOUBLE, SQUARE
from helpers.teacher_stub import TeacherStub

from synthkit.core.pipeline import Pipeline
from synthkit.core.rundir import load_dataset
from synthkit.errors import ConfigError, DataError
from synthkit.rounds import parse_iterations, run_rounds
from synthkit.rounds.config import resolve_train_on

ROOT = Path(__file__).resolve().parents[1]
TRAIN = {"max_steps": 1, "per_device_train_batch_size": 2, "max_length": 512, "lora": {"r": 2, "lora_alpha": 4},
         "logging_steps": 1}

TEMPLATE = "Code snippet:\n{seed}\nWrite a new exercise: [Problem], [Entry Point], [Solution], [Tests]."


def scoder_stages(tmp_path, n=5):
    return [
        {"stage": "load_seeds", "source": {"kind": "python_package", "packages": ["textwrap", "heapq", "bisect"]},
         "min_lines": 3, "max_lines": 10, "limit": 2},
        {"stage": "decontaminate", "columns": ["seed"], "benchmarks": ["humaneval"]},   # the pool
        {"stage": "synthesize", "style": "chat", "system": "You write exercises.", "n": n, "template": TEMPLATE,
         "use_last_checkpoints": 1},
        {"stage": "verify_tests", "timeout_s": 5},
        {"stage": "judge", "style": "chat", "llm": {"dummy_responses": ["7"]}},
        {"stage": "decontaminate", "benchmarks": ["humaneval"]},
        {"stage": "save", "path": str(tmp_path / "out")}]


def scoder_pipe(tmp_path, model_dir, **it):
    return Pipeline(scoder_stages(tmp_path), name="scoder", workdir=tmp_path / "runs",
                    llm={"backend": "dummy", "model": str(model_dir), "dummy_responses": ANSWERS},
                    iterations={"rounds": 2, "train": TRAIN, **it})


def seeds_by_id(run_dir: Path) -> dict[str, str]:
    return {r["id"]: r["seed"] for r in load_dataset(run_dir / "00_load_seeds" / "shards")}


@pytest.mark.slow
def test_scoder_rounds_train_the_synthesizer_on_synthesis_samples(tmp_path, tiny_model_dir):
    pipe = scoder_pipe(tmp_path, tiny_model_dir)
    ds = run_rounds(pipe)
    assert json.loads((pipe.run_dir / "iterations.json").read_text())["train_on"] == "synthesis"
    for r in (1, 2):
        round_dir = pipe.run_dir / f"round_{r:02d}"
        seeds = seeds_by_id(round_dir)
        rows = datasets.load_from_disk(str(round_dir / "train_data" / "data"))
        assert len(rows) == 2 * 2, rows["messages"]   # 2 seeds x (double, square): the filters drop the rest
        for row_id, msgs in zip(rows["id"], rows["messages"]):
            assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
            assert msgs[0]["content"] == "You write exercises."
            assert seeds[row_id.rsplit("/", 1)[0]] in msgs[1]["content"]          # its own seed snippet
            assert msgs[2]["content"] in (DOUBLE, SQUARE)                               # the whole raw answer
        assert {m[2]["content"] for m in rows["messages"]} == {DOUBLE, SQUARE}
    # the saved dataset is still the instruction dataset: instruction -> solution
    saved = datasets.load_dataset(str(tmp_path / "out"), split="train")
    assert len(saved) == len(ds) == 4
    for row in saved:
        assert row["messages"][0]["content"] == row["instruction"] and row["messages"][1]["content"] == row["response"]
        assert row["synthesis"]["answer"] in (DOUBLE, SQUARE) and row["synthesis"]["style"] == "chat"
    r1 = json.loads((pipe.run_dir / "round_01" / "train" / "_SUCCESS").read_text())["checkpoints"]
    assert {m["checkpoint"] for m in ds["meta"]} == {r1[-1]}      # round 2 sampled from round 1's synthesizer


@pytest.mark.slow
def test_rft_rounds_train_on_instruction_rows(tmp_path, tiny_model_dir):
    pipe = Pipeline.from_yaml(ROOT / "pipelines" / "rft.yaml", overrides=[
        "llm.backend=dummy", f"llm.model={tiny_model_dir}", "llm.dummy_responses=['def f(x):\n    return x']",
        "stages.0.limit=2", "stages.1.budget={steps: 1, k: 2}", "iterations.rounds=2",
        f"iterations.train={json.dumps(TRAIN)}", f"stages.2.path={tmp_path / 'out'}"], workdir=tmp_path / "runs")
    run_rounds(pipe)
    assert json.loads((pipe.run_dir / "iterations.json").read_text())["train_on"] == "instruction"
    for r in (1, 2):
        round_dir = pipe.run_dir / f"round_{r:02d}"
        out = load_dataset(round_dir / "02_save" / "shards")
        rows = datasets.load_from_disk(str(round_dir / "train_data" / "data"))
        assert rows.column_names == ["id", "messages"] and len(rows) == len(out) > 0
        assert sorted(rows["id"]) == sorted(out["id"])
        assert sorted(map(json.dumps, rows["messages"])) == sorted(map(json.dumps, out["messages"]))
        tasks = {r["instruction"] for r in out}
        for msgs in rows["messages"]:
            assert msgs[0]["role"] == "user" and msgs[0]["content"] in tasks      # the task, not a synthesis prompt


def test_train_on_default_and_explicit_choice():
    it = parse_iterations({"rounds": 1})
    assert resolve_train_on(it, ["load_seeds", "synthesize", "judge"]) == "synthesis"
    assert resolve_train_on(it, ["load_seeds", "gibbs_resample", "perplexity_select"]) == "instruction"
    assert resolve_train_on(parse_iterations({"train_on": "instruction"}), ["synthesize"]) == "instruction"
    with pytest.raises(ConfigError, match=r"iterations.train_on"):
        parse_iterations({"train_on": "answers"})
    with pytest.raises(ConfigError, match=r"iterations.bootstrap: .*exactly one"):
        parse_iterations({"bootstrap": {"seeds": 2}})
    with pytest.raises(ConfigError, match=r"iterations.bootstrap.train.max_stepz"):
        parse_iterations({"bootstrap": {"file": "x.jsonl", "train": {"max_stepz": 1}}})


def test_synthesis_without_its_column_is_a_clear_error(tmp_path, tiny_model_dir):
    stages = scoder_stages(tmp_path)
    stages[-1]["columns"] = ["id", "instruction", "messages"]      # save drops the synthesis samples
    pipe = Pipeline(stages, name="s", workdir=tmp_path / "runs", iterations={"rounds": 1, "train": TRAIN},
                    llm={"backend": "dummy", "model": str(tiny_model_dir), "dummy_responses": ANSWERS})
    with pytest.raises(DataError, match=r"round 1: .*`synthesis` column.*train_on: instruction"):
        run_rounds(pipe)


@pytest.mark.slow
def test_bootstrap_trains_on_the_teachers_filtered_samples_before_round_1(tmp_path, tiny_model_dir):
    stub = TeacherStub(ANSWERS)
    with stub as url:
        teacher = {"backend": "openai", "model": "teacher-70b", "base_url": url, "cache": False}
        pipe = scoder_pipe(tmp_path, tiny_model_dir, rounds=1, bootstrap={"llm": teacher, "seeds": 1, "n": 5})
        run_rounds(pipe)
    boot = pipe.run_dir / "bootstrap"
    assert [p.name for p in sorted(boot.glob("0*"))] == ["00_load_seeds", "01_decontaminate", "02_synthesize",
                                                         "03_verify_tests", "04_judge", "05_decontaminate"]
    assert {r["path"] for r in stub.requests} == {"/v1/chat/completions"}
    sample = load_dataset(boot / "02_synthesize" / "shards")
    assert {m["model"] for m in sample["meta"]} == {"teacher-70b"} and len(sample) == 4    # no_tests: parse drops it
    rows = datasets.load_from_disk(str(boot / "train_data" / "data"))
    seed = next(iter(seeds_by_id(boot).values()))
    assert sorted(m[2]["content"] for m in rows["messages"]) == sorted([DOUBLE, SQUARE])   # verify + decontaminate
    assert all(seed in m[1]["content"] for m in rows["messages"])
    boot_ckpt = json.loads((boot / "train" / "_SUCCESS").read_text())["checkpoints"][-1]
    r1 = pipe.run_dir / "round_01"
    assert {m["checkpoint"] for m in load_dataset(r1 / "02_synthesize" / "shards")["meta"]} == {boot_ckpt}
    assert json.loads((r1 / "train" / "_SUCCESS").read_text())["base"] == boot_ckpt
    assert json.loads((pipe.run_dir / "iterations.json").read_text())["checkpoints"][0] == boot_ckpt


@pytest.mark.slow
def test_bootstrap_from_a_file_of_teacher_samples(tmp_path, tiny_model_dir):
    samples = tmp_path / "teacher.jsonl"
    samples.write_text(json.dumps({"prompt": "Code snippet:\ndef f(): pass", "answer": DOUBLE}) + "\n"
                       + json.dumps({"synthesis": {"prompt": [{"role": "user", "content": "snippet 2"}],
                                                   "answer": SQUARE}}) + "\n")
    pipe = scoder_pipe(tmp_path, tiny_model_dir, rounds=1, bootstrap={"file": str(samples)})
    run_rounds(pipe)
    rows = datasets.load_from_disk(str(pipe.run_dir / "bootstrap" / "train_data" / "data"))
    assert rows["messages"] == [[{"role": "user", "content": "Code snippet:\ndef f(): pass"},
                                 {"role": "assistant", "content": DOUBLE}],
                                [{"role": "user", "content": "snippet 2"}, {"role": "assistant", "content": SQUARE}]]
    samples.write_text(json.dumps({"prompt": "p", "answer": ""}) + "\n")
    with pytest.raises(DataError, match=r"bootstrap.file .*row 0.*non-empty"):
        run_rounds(scoder_pipe(tmp_path, tiny_model_dir, rounds=1, bootstrap={"file": str(samples)}))


def test_pool_decontamination_drops_a_benchmark_snippet_from_the_seeds(tmp_path):
    from synthkit.dedup.benchmarks import load_benchmark

    leaked = load_benchmark("humaneval")[0].programs[0]
    pool = tmp_path / "pool.jsonl"
    pool.write_text(json.dumps({"id": "leak", "seed": leaked}) + "\n"
                    + json.dumps({"id": "ok", "seed": "def shout(s):\n    return s.upper() + '!'\n"}) + "\n")
    pipe = Pipeline([{"stage": "load_seeds", "path": str(pool)},
                     {"stage": "decontaminate", "columns": ["seed"], "benchmarks": ["humaneval"]}],
                    name="pool", workdir=tmp_path / "runs", llm={"backend": "dummy"})
    ds = pipe.run()
    assert ds["id"] == ["ok"]
    rejected = load_dataset(pipe.run_dir / "01_decontaminate" / "rejected")
    assert rejected["id"] == ["leak"] and rejected["rejected_by"] == ["decontaminate:contaminated"]


def test_synthesize_keeps_the_synthesis_sample_as_the_model_saw_it(tmp_path):
    from synthkit.core.stage import StageContext
    from synthkit.llm.base import LLMConfig
    from synthkit.prompts.synthesize import PREFIX
    from synthkit.rounds.samples import sample_messages
    from synthkit.stages.synthesize import Synthesize

    def make(answer=DOUBLE, **cfg):
        ctx = StageContext(index=1, seed=0, stage_dir=tmp_path, base_dir=tmp_path,
                           llm_config=LLMConfig(backend="dummy", dummy_responses=[answer]))
        return Synthesize(Synthesize.Config(stage="synthesize", n=1, **cfg), ctx)

    seed = {"id": "s0", "seed": "def twice(v):\n    return v + v"}
    chat = make(style="chat", system="You write exercises.").process([seed])[0]
    assert chat["synthesis"]["style"] == "chat" and chat["synthesis"]["answer"] == DOUBLE
    system, user = chat["synthesis"]["prompt"]
    assert system == {"role": "system", "content": "You write exercises."} and seed["seed"] in user["content"]
    assert chat["messages"][0]["content"] == chat["instruction"]          # messages stay instruction -> solution
    continuation = DOUBLE.removeprefix(PREFIX)   # the prompt opened [Problem]; the model continues it
    completion = make(continuation, style="completion").process([seed])[0]["synthesis"]
    (doc,) = completion["prompt"]
    assert doc["role"] == "user" and doc["content"].endswith(PREFIX) and seed["seed"] in doc["content"]
    assert completion["answer"] == continuation   # raw: prompt + answer is the document the model wrote into
    assert sample_messages(completion, "x")[-1] == {"role": "assistant", "content": continuation}
    with pytest.raises(Exception, match="system turn needs style: chat"):
        make(style="completion", system="x")


def test_bootstrap_or_final_without_sampling_from_the_trained_model_is_refused(tmp_path):
    stages = scoder_stages(tmp_path)
    stages[2]["use_last_checkpoints"] = 0
    for extra in ({"final": {}}, {"bootstrap": {"file": "teacher.jsonl"}}):
        pipe = Pipeline(stages, name="s", workdir=tmp_path / "runs", llm={"backend": "dummy"},
                        iterations={"rounds": 1, **extra})
        with pytest.raises(ConfigError, match="use_last_checkpoints: 1"):
            run_rounds(pipe)
        assert not pipe.run_dir.exists()

"""The iterative loop on the real trainer and the real embedded model, at toy size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthkit.cli import main
from synthkit.core.pipeline import Pipeline
from synthkit.errors import ConfigError, DataError
from synthkit.rounds import parse_iterations, run_rounds

TRAIN = {"max_steps": 2, "per_device_train_batch_size": 2, "max_length": 128, "lora": {"r": 4, "lora_alpha": 8},
         "learning_rate": 1e-4, "logging_steps": 1}


def _pipe(seeds_file, workdir, **it):
    stages = [{"stage": "load_seeds", "path": str(seeds_file), "limit": 4},
              {"stage": "generate", "template": "{instruction}", "max_tokens": 12, "temperature": 0.0,
               "use_last_checkpoints": 1}]
    return Pipeline(stages, name="loop", llm={"backend": "transformers", "model": "embedded", "cache": False},
                    workdir=workdir, iterations={"rounds": 2, "train": TRAIN, **it})


@pytest.mark.slow
def test_two_rounds_round2_samples_from_round1_checkpoint(seeds_file, tmp_path):
    pipe = _pipe(seeds_file, tmp_path / "runs")
    ds = run_rounds(pipe)
    state = json.loads((pipe.run_dir / "iterations.json").read_text())
    assert len(state["checkpoints"]) == 2
    r1 = json.loads((pipe.run_dir / "round_01" / "train" / "_SUCCESS").read_text())["checkpoints"]
    assert r1 == state["checkpoints"][:1]
    round1_rows = (pipe.run_dir / "round_01" / "01_generate" / "shards")
    from synthkit.core.rundir import load_dataset
    assert {m["checkpoint"] for m in load_dataset(round1_rows)["meta"]} == {"embedded"}   # the llm's model
    assert {m["checkpoint"] for m in ds["meta"]} == {r1[-1]}   # round 2 sampled from round 1's model
    assert len(ds) == 4
    # a rerun resumes: nothing is trained or generated again
    marks = [p.stat().st_mtime_ns for p in sorted(pipe.run_dir.rglob("_SUCCESS"))]
    run_rounds(_pipe(seeds_file, tmp_path / "runs"))
    assert marks == [p.stat().st_mtime_ns for p in sorted(pipe.run_dir.rglob("_SUCCESS"))]


def test_empty_round_is_a_clear_error(tmp_path):
    seeds = tmp_path / "s.jsonl"
    seeds.write_text('{"seed": "def f(x):\\n    return x"}\n')
    stages = [{"stage": "load_seeds", "path": str(seeds)}, {"stage": "synthesize", "style": "chat"}]
    pipe = Pipeline(stages, name="e", llm={"backend": "dummy", "dummy_responses": ["[Problem]\nno sections"]},
                    workdir=tmp_path / "r", iterations={"rounds": 2, "train": TRAIN})   # every answer fails to parse
    with pytest.raises(DataError, match="round 1 kept no rows"):
        run_rounds(pipe)


def test_iterations_block_is_validated_before_any_round(tmp_path):
    with pytest.raises(ConfigError, match=r"iterations.train.max_stepz: unknown key. Allowed: .*max_steps"):
        parse_iterations({"rounds": 2, "train": {"max_stepz": 3}})
    with pytest.raises(ConfigError, match=r"iterations.data"):
        parse_iterations({"rounds": 2, "data": "everything"})
    # `synthkit validate` checks the block too, before anything runs
    yml = tmp_path / "p.yaml"
    yml.write_text("name: p\nllm: {backend: dummy}\nstages: [{stage: load_seeds, path: s.jsonl}]\n"
                   "iterations: {rounds: 2, train: {max_stepz: 3}}\n")
    assert main(["validate", str(yml)]) == 2


def test_pipeline_run_refuses_rounds_and_points_to_them(tmp_path):
    pipe = Pipeline([{"stage": "load_seeds", "path": "s.jsonl"}], name="r", llm={"backend": "dummy"},
                    workdir=tmp_path, iterations={"rounds": 1})
    with pytest.raises(ConfigError, match="run_rounds"):
        pipe.run()


def test_a_drafts_last_checkpoints_fails_naming_its_replacement():
    with pytest.raises(ConfigError, match=r"iterations\.last_checkpoints: unknown key \(now: use_last_checkpoints: "
                                          r"on the sampling stage\)"):
        parse_iterations({"rounds": 1, "last_checkpoints": 2})


def test_unknown_iterations_key_lists_allowed_keys():
    with pytest.raises(ConfigError, match=r"iterations.roundz: unknown key. Allowed: rounds, train, data"):
        parse_iterations({"roundz": 2})


TINY_TRAIN = {"max_steps": 1, "per_device_train_batch_size": 2, "max_length": 64, "lora": {"r": 2, "lora_alpha": 4},
              "logging_steps": 1}


def _tiny_rounds(tmp_path, model_dir, seeds, train):
    stages = [{"stage": "load_seeds", "path": str(seeds)},
              {"stage": "generate", "template": "{instruction}", "use_last_checkpoints": 1}]
    return Pipeline(stages, name="fp", llm={"backend": "dummy", "model": str(model_dir)},
                    workdir=tmp_path / "runs", iterations={"rounds": 2, "train": train})


def _marks(run_dir):
    return {str(p.relative_to(run_dir)): p.stat().st_mtime_ns for p in run_dir.rglob("_SUCCESS")}


def test_a_changed_train_block_or_round_data_reruns_that_round_and_what_follows(tmp_path, tiny_model_dir):
    """Rounds are fingerprinted like stages: the dummy backend samples, the real trainer trains a tiny model."""
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps({"id": f"s{i}", "instruction": f"task {i}"}) + "\n" for i in range(4)))
    pipe = _tiny_rounds(tmp_path, tiny_model_dir, seeds, TINY_TRAIN)
    run_rounds(pipe)
    first = _marks(pipe.run_dir)
    run_rounds(_tiny_rounds(tmp_path, tiny_model_dir, seeds, TINY_TRAIN))
    assert _marks(pipe.run_dir) == first                      # unchanged: nothing is redone

    ds = run_rounds(_tiny_rounds(tmp_path, tiny_model_dir, seeds, {**TINY_TRAIN, "max_steps": 2}))
    second = _marks(pipe.run_dir)
    same = {k for k in first if first[k] == second[k]}
    assert same == {"round_01/00_load_seeds/_SUCCESS", "round_01/01_generate/_SUCCESS",
                    "round_01/train_data/_SUCCESS"}           # the sampling of round 1 did not change
    r1 = json.loads((pipe.run_dir / "round_01" / "train" / "_SUCCESS").read_text())["checkpoints"]
    assert [Path(c).parent.name for c in r1] == ["checkpoint-2"]     # retrained with the new block
    assert {m["checkpoint"] for m in ds["meta"]} == set(r1)            # round 2 sampled from it

    seeds.write_text(seeds.read_text().replace("task 3", "task three"))
    run_rounds(_tiny_rounds(tmp_path, tiny_model_dir, seeds, {**TINY_TRAIN, "max_steps": 2}))
    third = _marks(pipe.run_dir)
    assert not {k for k in second if second[k] == third[k]}       # new data: every step of every round reruns

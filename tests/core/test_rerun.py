"""A saved dataset reruns from its own files (core.rerun): `synthkit run DATASET_DIR`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import yaml

from synthkit.cli import main
from synthkit.core.rerun import rerun_command

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """A dataset saved by `synthkit run` from a YAML with relative paths (dummy backend)."""
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "seeds.jsonl").write_text(
        "".join(json.dumps({"id": f"s{i}", "instruction": f"Write f{i}."}) + "\n" for i in range(5)))
    (project / "p.yaml").write_text(
        "name: again\nseed: 3\nllm: {backend: dummy}\nstages:\n"
        "  - {stage: load_seeds, path: data/seeds.jsonl}\n"
        "  - {stage: generate, template: 'Task: {instruction}', n: 2, temperature: 0.5}\n"
        "  - {stage: save, path: out/again}\n")
    assert main(["run", str(project / "p.yaml")]) == 0
    return project / "out" / "again"


def rows(folder: Path) -> list[dict]:
    return datasets.load_dataset(str(folder), split="train").to_list()


def test_pipeline_yaml_holds_what_reruns_exactly(saved):
    record = yaml.safe_load((saved / "pipeline.yaml").read_text())
    project = saved.parents[1].resolve()
    assert record["llm"] == {"backend": "dummy", "model": "embedded", "cache": True, "dummy_responses": []}
    assert record["seed"] == 3 and record["workdir"] == str(project / "runs")
    assert record["stages"][0] == {"stage": "load_seeds", "path": str(project / "data" / "seeds.jsonl")}
    assert record["stages"][1] == {"stage": "generate", "template": "Task: {instruction}", "n": 2, "temperature": 0.5}
    assert record["stages"][2]["path"] == str(project / "out" / "again")
    [seed] = record["inputs"]
    assert seed["file"] == str(project / "data" / "seeds.jsonl") and len(seed["sha256"]) == 64
    assert "executor" not in record and "ray" not in record


def test_a_copied_dataset_reruns_to_the_same_rows(saved, tmp_path, capsys):
    copy = tmp_path / "elsewhere" / "downloaded"
    shutil.copytree(saved, copy)
    shutil.rmtree(saved.parents[1] / "runs")   # nothing to resume: the rerun computes every stage
    assert main(["run", str(copy)]) == 0
    out = capsys.readouterr().out
    rerun = tmp_path / "elsewhere" / "downloaded-rerun"
    assert f"rerunning {copy / 'pipeline.yaml'} into {rerun}" in out
    assert (rerun / "runs" / "again" / "01_generate" / "_SUCCESS").is_file()
    assert rows(rerun / "again") == rows(copy) and len(rows(copy)) == 10
    # the original dataset was left alone, and its pipeline.yaml works as the target too
    assert rows(saved) == rows(copy)
    assert main(["run", str(copy / "pipeline.yaml"), "--out", str(tmp_path / "second")]) == 0
    assert rows(tmp_path / "second" / "again") == rows(copy)


@pytest.mark.slow  # two CLI subprocesses, ~9 s
def test_a_changed_or_moved_seed_file_fails_in_one_line(saved, tmp_path):
    record = yaml.safe_load((saved / "pipeline.yaml").read_text())
    seeds = Path(record["inputs"][0]["file"])
    want = record["inputs"][0]["sha256"]

    def rerun() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "synthkit.cli", "run", str(saved), "--out", str(tmp_path / "r")],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)

    seeds.write_text(seeds.read_text() + json.dumps({"id": "s9", "instruction": "New."}) + "\n")
    changed = rerun()
    assert changed.returncode == 2 and changed.stderr.count("\n") == 1, changed.stderr
    assert f"seed input {seeds} changed: recorded sha256 {want}, now " in changed.stderr
    seeds.rename(seeds.with_name("moved.jsonl"))
    moved = rerun()
    assert moved.returncode == 2 and moved.stderr.count("\n") == 1, moved.stderr
    assert f"seed input {seeds} (recorded sha256 {want}) is missing" in moved.stderr
    assert not list((tmp_path / "r").rglob("0*_*"))   # refused before any stage ran


def test_a_folder_that_is_no_dataset_is_refused(tmp_path, capsys):
    assert main(["run", str(tmp_path)]) == 2
    assert "not a saved dataset" in capsys.readouterr().err


def test_rerun_command():
    assert rerun_command() == "synthkit run DATASET_DIR"
    assert rerun_command("code-sft", "me/code-sft") == (
        "hf download me/code-sft --repo-type dataset --local-dir code-sft && synthkit run code-sft")


def test_validate_checks_a_dataset_folder_and_its_recorded_inputs(saved, capsys):
    assert main(["validate", str(saved)]) == 0
    assert "valid (3 stages)" in capsys.readouterr().out
    seeds = Path(yaml.safe_load((saved / "pipeline.yaml").read_text())["inputs"][0]["file"])
    seeds.write_text("changed\n")
    assert main(["validate", str(saved)]) == 2
    assert f"seed input {seeds} changed" in capsys.readouterr().err


def test_bundled_and_hub_inputs_are_identified_by_name(tmp_path):
    from synthkit.core.pipeline import Pipeline
    from synthkit.core.rerun import record

    pipe = Pipeline([{"stage": "load_seeds", "source": {"kind": "python_package", "packages": ["textwrap"]}},
                     {"stage": "load_seeds", "tasks": "bundled:train"},
                     {"stage": "load_seeds", "source": {"kind": "hf", "path_or_id": "org/corpus", "revision": "abc"}}],
                    name="ids", llm={"backend": "dummy"}, workdir=tmp_path)
    inputs = record(pipe, pipe.build())["inputs"]
    assert inputs[0]["bundled"] == "python_package" and inputs[0]["packages"]["textwrap"].startswith("python ")
    assert inputs[1] == {"stage": 1, "key": "tasks", "bundled": "bundled:train", "synthkit": inputs[1]["synthkit"]}
    assert inputs[2] == {"stage": 2, "key": "source", "hub": "org/corpus", "subset": None, "split": "train",
                         "revision": "abc"}


def test_a_seed_file_shipped_in_synthkit_is_named_by_its_place_in_the_package(tmp_path):
    from synthkit.core.pipeline import Pipeline
    from synthkit.core.stage import PACKAGE_DIR

    Pipeline([{"stage": "load_seeds", "path": str(PACKAGE_DIR / "data" / "seeds" / "quickstart.jsonl")},
              {"stage": "generate", "template": "{instruction}"},
              {"stage": "save", "path": str(tmp_path / "out")}],
             name="bundled", llm={"backend": "dummy"}, workdir=tmp_path / "runs").run()
    record = yaml.safe_load((tmp_path / "out" / "pipeline.yaml").read_text())
    assert record["stages"][0]["path"] == "synthkit:data/seeds/quickstart.jsonl"
    assert record["inputs"][0]["file"] == "synthkit:data/seeds/quickstart.jsonl"
    assert main(["run", str(tmp_path / "out")]) == 0
    assert rows(tmp_path / "out-rerun" / "out") == rows(tmp_path / "out")


def test_paths_under_iterations_are_made_absolute_too(tmp_path):
    from synthkit.core.pipeline import Pipeline
    from synthkit.core.rerun import record

    (tmp_path / "teacher.jsonl").write_text("{}\n")
    pipe = Pipeline([{"stage": "load_seeds", "tasks": "bundled:train"}], name="r", llm={"backend": "dummy"},
                    base_dir=tmp_path, iterations={"rounds": 1, "bootstrap": {"file": "teacher.jsonl"},
                                                   "final": {"eval": {"tasks": "bundled:test"}}})
    got = record(pipe, pipe.build())["iterations"]
    assert got["bootstrap"]["file"] == str(tmp_path.resolve() / "teacher.jsonl")
    assert got["final"]["eval"]["tasks"] == "bundled:test" and got["rounds"] == 1

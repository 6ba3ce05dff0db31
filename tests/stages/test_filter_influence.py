"""filter_influence: every row scored, selection by select_top's code, validation
duplicates rejected, stats written; the warm-up through the bundled trainer is reused."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "influence"))
pytest.importorskip("trak", reason="needs traker: pip install 'traker>=0.3'")

from helpers.influence import adder, chat, make_checkpoint, printer  # noqa: E402

from synthkit.core import rundir  # noqa: E402
from synthkit.core.pipeline import Pipeline  # noqa: E402
from synthkit.errors import ConfigError, MissingDependency  # noqa: E402
from synthkit.stages.select_top import top_indices  # noqa: E402

FAST = {"dim": 64, "max_length": 256, "batch_rows": 4, "project_rows": 8, "device": "cpu", "threads": 1}


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory, tiny_model_dir) -> Path:
    root = tmp_path_factory.mktemp("warm")
    make_checkpoint(root / "checkpoint-1", tiny_model_dir, step=1, lr=3e-4, seed=1)
    make_checkpoint(root / "checkpoint-2", tiny_model_dir, step=2, lr=1e-4, seed=2)
    return root


@pytest.fixture
def val_file(tmp_path) -> Path:
    rows = [{"task_id": f"add/{i}", "messages": adder(100 + i)} for i in range(3)]
    rows += [{"task_id": f"io/{i}", "messages": chat(f"Print bye {i} times.", f"for k in range({i}):\n    print('bye')\n")}
             for i in range(2)]
    path = tmp_path / "val.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def pool() -> list[dict]:
    rows = [{"id": f"a{i}", "messages": adder(i)} for i in range(5)]
    rows += [{"id": f"p{i}", "messages": printer(i)} for i in range(4)]
    rows += [{"id": "i0", "instruction": "Write mul(a, b).", "response": "def mul(a, b):\n    return a * b\n"},
             {"id": "dup", "messages": chat("Something new entirely here.", adder(101)[1]["content"])},
             {"id": "none", "seed": "no conversation at all"}]
    return rows


def run(tmp_path, ckpt_dir, val_file, **cfg):
    stage = {"stage": "filter_influence", "validation": {"path": str(val_file)},
             "warmup": {"checkpoints": [str(ckpt_dir)]}, **FAST, **cfg}
    pipe = Pipeline([stage], name="inf", workdir=tmp_path / "runs", llm={"backend": "dummy"})
    return pipe, pipe.run(dataset=pool())


def test_every_row_is_scored_and_the_top_is_select_tops(tmp_path, ckpt_dir, val_file):
    pipe, ds = run(tmp_path, ckpt_dir, val_file, fraction=0.4)
    sdir = pipe.run_dir / "00_filter_influence"
    rejected = rundir.load_table(sdir / "rejected").to_pylist()
    reasons = {r["id"]: r["rejected_by"] for r in rejected}
    assert reasons["none"] == "filter_influence:no_messages"
    assert reasons["dup"] == "filter_influence:duplicates_validation"
    assert "validation example add/1" in next(r["rejected_detail"] for r in rejected if r["id"] == "dup")
    kept = ds.to_list()
    everything = kept + rejected
    assert len(everything) == 12
    assert all("influence" in r["scores"] and "influence_subtask" in r["meta"] for r in everything)
    assert next(r for r in rejected if r["id"] == "none")["scores"]["influence"] is None
    # the candidates (scored, not duplicates) are cut exactly as select_top cuts them
    cands = [r for r in everything if r["id"] not in ("none", "dup")]
    assert len(cands) == 10 and len(kept) == math.ceil(0.4 * 10)
    want = top_indices([r["scores"]["influence"] for r in cands], fraction=0.4, ids=[r["id"] for r in cands])
    assert {r["id"] for r in kept} == {cands[i]["id"] for i in want}
    below = [r for r in rejected if r["rejected_by"] == "filter_influence:below_top"]
    assert len(below) == 6 and all(r["rejected_detail"].startswith("scores.influence = ") for r in below)
    assert all(r["meta"]["influence_subtask"] in ("add", "io") for r in kept)

    stats = json.loads((sdir / "influence.json").read_text())
    assert [c["step"] for c in stats["checkpoints"]] == [1, 2]
    assert [c["weight"] for c in stats["checkpoints"]] == pytest.approx([0.75, 0.25])
    assert stats["validation"] == {"examples": 5, "subtasks": {"add": 3, "io": 2}}
    assert sum(stats["kept_by_subtask"].values()) == 4 and len(stats["kept"]) == 4
    assert json.loads((sdir / "stats.json").read_text())["dropped"] == {
        "below_top": 6, "duplicates_validation": 1, "no_messages": 1}


def test_a_new_validation_set_computes_no_training_features(tmp_path, ckpt_dir, val_file):
    run(tmp_path, ckpt_dir, val_file, k=2)
    other = tmp_path / "val2.jsonl"
    other.write_text(json.dumps({"task_id": "mul/1", "messages": chat("Write mul3(a).", "def mul3(a):\n"
                                                                      "    return 3 * a\n")}) + "\n")
    pipe, ds = run(tmp_path, ckpt_dir, other, k=2)
    stats = json.loads((pipe.run_dir / "00_filter_influence" / "influence.json").read_text())
    assert stats["train_rows_computed"] == 0 and stats["val_rows_computed"] == 2  # 1 example x 2 checkpoints
    assert len(ds) == 2 and stats["validation"]["subtasks"] == {"mul": 1}


def test_disabled_passes_rows_through(tmp_path, val_file):
    pipe = Pipeline([{"stage": "filter_influence", "validation": {"path": str(val_file)}, "enabled": False}],
                    name="off", workdir=tmp_path / "runs", llm={"backend": "dummy"})
    ds = pipe.run(dataset=pool())
    assert len(ds) == 12 and "influence" not in (ds[0].get("scores") or {})


def test_config_errors_and_defaults(tmp_path, val_file, monkeypatch):
    base = {"stage": "filter_influence", "validation": {"path": str(val_file)}}
    with pytest.raises(ConfigError, match="not both"):
        Pipeline([{**base, "fraction": 0.1, "k": 3}])
    with pytest.raises(ConfigError, match="exactly one"):
        Pipeline([{**base, "validation": {}}])
    with pytest.raises(ConfigError, match="dimm"):
        Pipeline([{**base, "dimm": 3}])
    stage = Pipeline([base]).build()[0]
    assert stage.config.fraction == 0.05 and stage.config.dim == 8192
    monkeypatch.setitem(sys.modules, "trak", None)
    monkeypatch.setitem(sys.modules, "trak.projectors", None)
    with pytest.raises(MissingDependency, match="pip install 'traker>=0.3'"):
        stage.check()  # `synthkit validate` and the runner fail before any stage runs


@pytest.mark.slow
def test_warmup_trains_with_the_bundled_trainer_once(tmp_path, tiny_model_dir, val_file):
    """~30-60 s: a real warm-up (tiny model, 2 epochs) through synthkit.train, reused by a rerun."""
    warm = {"model": str(tiny_model_dir), "fraction": 0.5, "num_train_epochs": 2, "learning_rate": 1e-3,
            "per_device_train_batch_size": 4, "lora": {"r": 4, "target_modules": ["q_proj", "v_proj"]}}
    stage = {"stage": "filter_influence", "validation": {"path": str(val_file)}, "warmup": warm, "k": 3, **FAST}
    pipe = Pipeline([stage], name="warm", workdir=tmp_path / "runs", llm={"backend": "dummy"})
    ds = pipe.run(dataset=pool())
    stats = json.loads((pipe.run_dir / "00_filter_influence" / "influence.json").read_text())
    assert [c["step"] for c in stats["checkpoints"]] == [2, 4]  # 5 of 10 rows, batch 4: 2 steps an epoch
    assert sum(c["weight"] for c in stats["checkpoints"]) == pytest.approx(1.0)
    assert len(ds) == 3
    ckpt = Path(stats["checkpoints"][0]["path"])
    assert tmp_path / "runs" / ".influence" / "warmup" in ckpt.parents  # outside the stage folder
    mtime = (ckpt / "adapter_model.safetensors").stat().st_mtime_ns
    stage["k"] = 2  # another selection: the stage reruns, the warm-up and the features are reused
    pipe = Pipeline([stage], name="warm", workdir=tmp_path / "runs", llm={"backend": "dummy"})
    assert len(pipe.run(dataset=pool())) == 2
    again = json.loads((pipe.run_dir / "00_filter_influence" / "influence.json").read_text())
    assert again["train_rows_computed"] == 0 and again["checkpoints"] == stats["checkpoints"]
    assert (ckpt / "adapter_model.safetensors").stat().st_mtime_ns == mtime


def test_nothing_to_score_needs_no_model(tmp_path, val_file):
    rows = [{"id": "none", "seed": "no chat"}, {"id": "dup", "messages": adder(100)}]
    pipe = Pipeline([{"stage": "filter_influence", "validation": {"path": str(val_file)}, **FAST}],
                    name="empty", workdir=tmp_path / "runs", llm={"backend": "dummy"})
    assert len(pipe.run(dataset=rows)) == 0  # no warm-up was trained: the dummy backend has no model
    stats = json.loads((pipe.run_dir / "00_filter_influence" / "stats.json").read_text())
    assert stats["dropped"] == {"duplicates_validation": 1, "no_messages": 1}

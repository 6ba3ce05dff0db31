"""`synthkit judge fit`: on a run whose label depends on two aspects only, the fit finds them."""

from __future__ import annotations

import json
import random
from pathlib import Path

import datasets
import pytest

from synthkit.cli import main
from synthkit.core.stage import StageContext
from synthkit.errors import ConfigError, DataError
from synthkit.eval.judge_fit import fit
from synthkit.stages.judge import Judge

ASPECTS = ["consistency", "relevance", "difficulty", "clarity", "test_quality"]
HAND = {"consistency": 0.3, "relevance": 0.15, "difficulty": 0.15, "clarity": 0.2, "test_quality": 0.2}
PLANTED = {"consistency": 0.7, "test_quality": 0.3}


def planted_run(run_dir: Path, n: int = 600, seed: int = 0) -> Path:
    """A run folder as the runner writes it: round_01/03_judge with kept and below_threshold rows."""
    rng = random.Random(seed)
    kept, rejected = [], []
    for i in range(n):
        s = {a: float(rng.randint(0, 9)) for a in ASPECTS}
        latent = sum(PLANTED.get(a, 0) * s[a] for a in ASPECTS) + rng.gauss(0, 0.4)
        row = {"id": f"seed{i}/0-0", "scores": {**{f"judge/{a}": s[a] for a in ASPECTS},
                                                "judge": sum(HAND[a] * s[a] for a in ASPECTS)},
               "verify": {"status": "passed", "pass_rate": min(1.0, max(0.0, round(latent / 9, 2)))}}
        (kept if row["scores"]["judge"] >= 3 else rejected).append(row)
    stage = run_dir / "round_01" / "03_judge"
    (stage / "shards").mkdir(parents=True)
    (stage / "rejected").mkdir()
    datasets.Dataset.from_list(kept).to_parquet(stage / "shards" / "00000.parquet")
    datasets.Dataset.from_list([{**r, "rejected_by": "judge:below_threshold"} for r in rejected]).to_parquet(
        stage / "rejected" / "00000.parquet")
    (stage / "_FINGERPRINT").write_text(json.dumps({"fingerprint": "x", "config": {
        "aspects": {a: {"weight": w, "rubric": None} for a, w in HAND.items()}}}))
    (stage / "_SUCCESS").write_text("{}")
    return run_dir


def test_fit_recovers_planted_weights_and_improves_auroc(tmp_path):
    report = fit(planted_run(tmp_path / "run"), "pass_rate", positive_at=0.5)
    w = report["weights"]
    assert list(w) == ASPECTS and all(v >= 0 for v in w.values()) and abs(sum(w.values()) - 1) < 1e-3
    for a in ASPECTS:
        assert abs(w[a] - PLANTED.get(a, 0.0)) < 0.05, w
    assert report["rows"] == 600 and report["test_rows"] + report["train_rows"] == 600
    assert report["after"]["auroc"] > report["before"]["auroc"] + 0.05
    assert report["after"]["spearman"] > report["before"]["spearman"] + 0.1


def test_cli_prints_the_weights_block_and_writes_json(tmp_path, capsys):
    run = planted_run(tmp_path / "run")
    labels = tmp_path / "labels.jsonl"   # a label file instead: the planted latent, thresholded
    rows = datasets.load_dataset("parquet", data_files=str(run / "round_01" / "03_judge" / "*" / "*.parquet"),
                                 split="train")
    labels.write_text("".join(json.dumps({"id": r["id"], "label": float(r["verify"]["pass_rate"] >= 0.5)}) + "\n"
                              for r in rows))
    assert main(["judge", "fit", str(run), "--label", str(labels), "--out", str(tmp_path / "fit.json")]) == 0
    out = capsys.readouterr().out
    block = out.split("before:")[0]
    import yaml
    weights = yaml.safe_load(block)["weights"]
    saved = json.loads((tmp_path / "fit.json").read_text())
    assert weights == saved["weights"] and weights["consistency"] > weights["test_quality"] > weights["clarity"]
    assert saved["after"]["auroc"] > saved["before"]["auroc"]
    # the judge stage takes that block as is
    judge = Judge(Judge.Config(stage="judge", weights=weights), StageContext(index=3, seed=0, stage_dir=tmp_path,
                                                                            base_dir=tmp_path))
    assert judge.weights == pytest.approx({a: weights[a] / sum(weights.values()) for a in ASPECTS})


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no finished judge stage"):
        fit(tmp_path, "pass_rate")
    with pytest.raises(ConfigError, match="neither pass_rate nor an existing"):
        fit(planted_run(tmp_path / "run"), "labels.txt")
    with pytest.raises(ConfigError, match=r"stages.3.weights: \['novelty'\] is not an aspect"):
        Judge(Judge.Config(stage="judge", weights={"novelty": 1.0}),
              StageContext(index=3, seed=0, stage_dir=tmp_path, base_dir=tmp_path))
    assert main(["judge", "fit", str(tmp_path / "nope")]) == 2


def test_reads_kept_and_below_threshold_rows_of_a_real_judge_stage(tmp_path):
    """A real run (dummy synthesizer and judge, real sandbox): the rejected rows carry their scores too."""
    from helpers.scoder_answers import ANSWERS

    from synthkit.core.pipeline import Pipeline
    from synthkit.eval.judge_fit import judge_rows

    stages = [{"stage": "load_seeds", "source": {"kind": "python_package", "packages": ["textwrap"]}, "limit": 2},
              {"stage": "synthesize", "style": "chat", "n": 5},
              {"stage": "verify_tests", "min_pass_rate": 0.0},
              {"stage": "judge", "style": "chat", "min_score": 5.5,
               "llm": {"dummy_responses": ["2", "5", "8", "9", "4", "7"]}}]
    pipe = Pipeline(stages, name="j", workdir=tmp_path / "runs", llm={"backend": "dummy", "dummy_responses": ANSWERS})
    pipe.run()
    stats = json.loads((pipe.run_dir / "03_judge" / "stats.json").read_text())
    assert stats["dropped"].get("below_threshold", 0) > 0 and stats["kept"] > 0
    rows, aspects = judge_rows(pipe.run_dir)
    assert aspects == ASPECTS and len(rows) == stats["rows_in"]
    assert all(isinstance(r["verify"]["pass_rate"], float) for r in rows)

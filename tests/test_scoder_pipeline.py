"""pipelines/scoder.yaml end to end, fast: the real stages, seeds, sandbox and
decontamination, with the dummy backend standing in for synthesizer and judge.
(The same file on the embedded model is exercised by bench/judge_auroc.py and
the README's run; the embedded model rarely writes a passing exercise.)"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
from helpers.scoder_answers import ANSWERS

from synthkit.core.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]


def test_scoder_yaml_funnel_with_dummy_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    answers = json.dumps(ANSWERS)
    pipe = Pipeline.from_yaml(ROOT / "pipelines" / "scoder.yaml", overrides=[
        "llm.backend=dummy", f"llm.dummy_responses={answers}", "stages.0.limit=6",
        "stages.2.style=chat", "stages.2.n=5", "stages.2.checkpoints=[ckA, ckB]",
        "stages.4.style=chat", "stages.4.llm={dummy_responses: ['7']}",
        f"stages.7.path={tmp_path / 'out' / 'scoder'}"], workdir=tmp_path / "runs")
    ds = pipe.run()

    report = json.loads((pipe.run_dir / "report.json").read_text())
    stages = report["stages"]
    assert [s["stage"] for s in stages] == ["load_seeds", "decontaminate", "synthesize", "verify_tests", "judge",
                                            "dedup_minhash", "decontaminate", "save"]
    assert stages[0]["kept"] == 6 and stages[1]["rows_in"] == 6     # the snippet pool, decontaminated first
    seeds = stages[1]["kept"]
    assert seeds == 6
    stages = stages[1:]
    synth = stages[1]
    # n=5 over 5 canned answers: each answer exactly once per seed and checkpoint; 4 of them parse
    assert synth["rows_in"] == seeds and synth["kept"] == 4 * 2 * seeds
    assert synth["dropped"] == {"no_tests": 2 * seeds}
    assert stages[2]["rows_in"] == synth["kept"] and stages[2]["dropped"] == {"failed": 2 * seeds}
    assert stages[3]["rows_in"] == stages[2]["kept"] == 6 * seeds and stages[3]["kept"] == 6 * seeds
    assert stages[4]["kept"] == 3 and sum(stages[4]["dropped"].values()) == 6 * seeds - 3  # 3 distinct exercises
    assert stages[5]["rows_in"] == 3 and stages[5]["dropped"] == {"contaminated": 1}
    assert report["rows_out"] == len(ds) == 2

    assert sorted(r["entry_point"] for r in ds) == ["double", "square"]
    for row in ds:
        assert row["meta"]["checkpoint"] in ("ckA", "ckB") and row["meta"]["module"]
        assert row["verify"]["status"] == "passed" and row["scores"]["verify"] == 1.0
        assert row["scores"]["judge"] == 7.0
        assert {k for k in row["scores"] if k.startswith("judge/")} == {
            "judge/consistency", "judge/relevance", "judge/difficulty", "judge/clarity", "judge/test_quality"}
    assert datasets.load_dataset(str(tmp_path / "out" / "scoder"), split="train").num_rows == 2
    card = (tmp_path / "out" / "scoder" / "README.md").read_text()
    assert "## Decontamination" in card and '"humaneval": 1' in card
    rejected = datasets.load_dataset("parquet", data_files=str(pipe.run_dir / "03_verify_tests" / "rejected" / "*.parquet"),
                                     split="train")
    assert set(rejected["rejected_by"]) == {"verify_tests:failed"}

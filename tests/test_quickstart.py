"""End to end on the real embedded model: the README's quickstart pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from synthkit.core.pipeline import Pipeline
from synthkit.hub import plots

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quickstart_on_embedded_model(tmp_path):
    out = tmp_path / "out" / "quickstart"
    pipe = Pipeline.from_yaml(ROOT / "pipelines" / "quickstart.yaml", workdir=tmp_path / "runs",
                              overrides=["stages.0.limit=4", f"stages.3.path={out}"])
    ds = pipe.run()
    # the seeds were chosen so the model's answers pass their tests (pipelines/quickstart.yaml)
    assert 1 <= len(ds) <= 4 and all(v["status"] == "passed" for v in ds["verify"])
    saved = datasets.load_dataset(str(out), split="train")   # the Hub layout, as the README shows
    assert saved.to_list() == ds.to_list() and saved.features == ds.features
    texts = saved["response"]
    # real model text: non-empty, varied, and mostly words (not the dummy backend's "dummy <hex>")
    assert all(t.strip() for t in texts) and len(set(texts)) == len(texts)
    assert not any(t.startswith("dummy ") for t in texts)
    assert all(m["model"] == "embedded" for m in saved["meta"])
    card = (out / "README.md").read_text()
    assert "| 1 | generate | 4 | 4 |" in card and f"| 2 | verify_tests | 4 | {len(ds)} |" in card
    assert "Lengths in tokens of the generating model's tokenizer (embedded" in card
    assert "## Models" in card and "| embedded |" in card and (out / "pipeline.yaml").is_file()
    assert (out / "images" / "funnel.png").is_file() or not plots.available()
    report = json.loads((pipe.run_dir / "report.json").read_text())
    gen = report["stages"][1]
    assert gen["completion_tokens"] > 0 and gen["prompt_tokens"] > 0 and gen["tokens_per_s"] > 0
    assert gen["requests"] == 4 and gen["cache_hits"] == 0

"""Accounting against a known run: the dummy backend answers three words, every
prompt is four words, and the LLM cache answers a rerun (tokens then count the
backend's work only, so they drop to zero while the hits count every prompt)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from synthkit.core.pipeline import Pipeline
from synthkit.core.report import summary_table

ROOT = Path(__file__).resolve().parents[2]
ANSWER = "alpha beta gamma"


def _pipeline(seeds_file: Path, workdir: Path) -> Pipeline:
    stages = [{"stage": "load_seeds", "path": str(seeds_file)},
              {"stage": "generate", "template": "{instruction}", "style": "completion", "n": 2, "shard_size": 3}]
    return Pipeline(stages, name="t", llm={"backend": "dummy", "dummy_responses": [ANSWER]}, workdir=workdir)


def _generate_stats(pipe: Pipeline) -> dict:
    return json.loads((pipe.run_dir / "01_generate" / "stats.json").read_text())


def test_tokens_and_cache_hits_of_a_known_run_and_its_cached_rerun(seeds_file, tmp_path):
    pipe = _pipeline(seeds_file, tmp_path / "runs")
    pipe.run()  # 10 prompts of 4 words ("Write function number 7."), 2 answers of 3 words each
    first = _generate_stats(pipe)
    assert {k: first[k] for k in ("requests", "cache_hits", "prompt_tokens", "completion_tokens")} == \
        {"requests": 10, "cache_hits": 0, "prompt_tokens": 40, "completion_tokens": 60}
    assert first["tokens_generated"] == 60
    assert first["tokens_per_s"] is None  # the dummy backend's speed means nothing

    shutil.rmtree(pipe.run_dir)  # the run is gone, the LLM cache (<workdir>/.llm_cache) stays
    pipe.run()
    again = _generate_stats(pipe)
    assert {k: again[k] for k in ("requests", "cache_hits", "prompt_tokens", "completion_tokens")} == \
        {"requests": 10, "cache_hits": 10, "prompt_tokens": 0, "completion_tokens": 0}
    assert again["tokens_generated"] == 60  # the answers used, cached or not
    assert again["tokens_per_s"] is None  # nothing generated in this run

    report = json.loads((pipe.run_dir / "report.json").read_text())
    assert report["totals"] == {"requests": 10, "cache_hits": 10, "prompt_tokens": 0, "completion_tokens": 0,
                                "seconds": report["totals"]["seconds"], "dropped": 0}
    table = summary_table(report).splitlines()
    gen = next(line for line in table if line.startswith("01 generate"))
    assert gen.split()[2:5] == ["10", "20", "0"] and "10/10" in gen


def test_summary_table_lists_drops_by_reason():
    report = {"rows_out": 3, "stages": [
        {"index": 0, "stage": "load_seeds", "rows_in": 0, "kept": 5, "dropped": {}, "seconds": 0.1},
        {"index": 1, "stage": "verify_tests", "rows_in": 5, "kept": 3, "dropped": {"failed": 1, "timeout": 1},
         "requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "seconds": 2.0}]}
    lines = summary_table(report).splitlines()
    assert lines[0].split()[:3] == ["stage", "in", "out"]
    verify = next(line for line in lines if line.startswith("01 verify_tests"))
    assert verify.split()[2:4] == ["5", "3"] and verify.endswith("failed 1, timeout 1")
    assert lines[-1].split()[:2] == ["total", "3"] and lines[-1].endswith(" 2")


@pytest.mark.slow
def test_cli_run_ends_with_the_table_and_bars_cover_whole_stages(seeds_file, tmp_path):
    pipeline = {"name": "acc", "workdir": str(tmp_path / "runs"),
                "llm": {"backend": "dummy", "dummy_responses": [ANSWER]},
                "stages": [{"stage": "load_seeds", "path": str(seeds_file)},
                           {"stage": "generate", "template": "{instruction}", "style": "completion"},
                           {"stage": "dedup_minhash", "columns": ["response"]}]}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(pipeline))
    env = {**os.environ, "TQDM_DISABLE": ""}
    env.pop("TQDM_DISABLE")
    out = subprocess.run([sys.executable, "-m", "synthkit.cli", "run", str(tmp_path / "p.yaml")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    dedup = next(line for line in lines if line.startswith("02 dedup_minhash"))
    assert dedup.split()[2:4] == ["10", "1"] and dedup.split()[-1] == "9", out.stdout  # ten equal answers: one kept
    assert lines[-1].startswith("done: 1 rows")
    assert "02 dedup_minhash: 100%" in out.stderr  # the whole-dataset stage's own bar, filled
    assert "Flattening" not in out.stderr and "Saving the dataset" not in out.stderr
    quiet = subprocess.run([sys.executable, "-m", "synthkit.cli", "run", str(tmp_path / "p.yaml"), "--workdir",
                            str(tmp_path / "quiet")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env={**env, "TQDM_DISABLE": "1"})
    assert quiet.returncode == 0 and "02 dedup_minhash" in quiet.stdout  # ran, and printed its table ...
    assert "02 dedup_minhash:" not in quiet.stderr and "01 generate:" not in quiet.stderr  # ... without bars


def test_version():
    out = subprocess.run([sys.executable, "-m", "synthkit.cli", "--version"], capture_output=True, text=True,
                         timeout=60)
    from synthkit import __version__

    assert out.returncode == 0 and out.stdout.strip() == f"synthkit {__version__}"


def test_library_bars_are_off_inside_a_run_and_back_after():
    import datasets
    from huggingface_hub import utils as hub

    from synthkit.core.progress import quiet_libraries

    datasets.enable_progress_bars()
    hub.enable_progress_bars()
    with quiet_libraries():
        import transformers.utils.logging as tf_logging  # imported inside: it reads huggingface_hub's switch

        assert not datasets.is_progress_bar_enabled() and hub.are_progress_bars_disabled()
        assert not tf_logging.is_progress_bar_enabled()
    assert datasets.is_progress_bar_enabled() and not hub.are_progress_bars_disabled()
    assert tf_logging.is_progress_bar_enabled()


def test_a_run_with_rounds_prints_one_table_per_round(tmp_path, capsys):
    from synthkit.cli import _print_summary

    stage = {"index": 0, "stage": "load_seeds", "rows_in": 0, "kept": 4, "dropped": {}, "seconds": 0.1}
    for r in (1, 2):
        (tmp_path / f"round_{r:02d}").mkdir()
        (tmp_path / f"round_{r:02d}" / "report.json").write_text(json.dumps({"rows_out": 4, "stages": [stage]}))
    _print_summary(tmp_path)
    out = capsys.readouterr().out
    assert out.count("00 load_seeds") == 2 and out.index("round_01:") < out.index("round_02:")

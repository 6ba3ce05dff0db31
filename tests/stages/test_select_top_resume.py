"""A judge -> select_top pipeline killed with SIGKILL mid-judge resumes without redoing finished shards."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from helpers.kill import kill_mid_run

from synthkit.core.pipeline import Pipeline
from synthkit.core.rundir import load_dataset
from synthkit.llm.dummy import DummyLLM

ROOT = Path(__file__).resolve().parents[2]
ROWS, SHARD, ASPECTS = 40, 4, 5  # 10 judge jobs of 4 rows; the default judge asks 5 aspects a row

# The same pipeline as the test's, with every LLM call slowed down so the kill lands between shards.
SLOW_RUN = """
import json, sys, time
from synthkit.core.pipeline import Pipeline
from synthkit.llm.dummy import DummyLLM

fast = DummyLLM.generate

def slow(self, prompts, params):
    time.sleep(0.25)  # the judge makes one call per shard
    return fast(self, prompts, params)

DummyLLM.generate = slow
spec = json.loads(open(sys.argv[1]).read())
Pipeline(spec["stages"], name=spec["name"], llm=spec["llm"], workdir=sys.argv[2]).run()
"""


def _spec(tmp_path: Path) -> dict:
    seeds = tmp_path / "rows.jsonl"
    seeds.write_text("".join(json.dumps({
        "id": f"r{i:02d}", "instruction": f"Write add{i}(a, b).", "code": f"def add{i}(a, b):\n    return a + b",
    }) + "\n" for i in range(ROWS)))
    return {"name": "k",
            "llm": {"backend": "dummy", "cache": False, "dummy_responses": [f"Score: {d}" for d in range(10)]},
            "stages": [{"stage": "load_seeds", "path": str(seeds)},
                       {"stage": "judge", "min_score": 1, "shard_size": SHARD},
                       {"stage": "select_top", "by": "scores.judge", "fraction": 0.25}]}


def _run(spec: dict, workdir: Path):
    return Pipeline(spec["stages"], name=spec["name"], llm=spec["llm"], workdir=workdir).run()


def test_sigkill_mid_judge_resumes_without_redoing_finished_shards(tmp_path, monkeypatch):
    spec = _spec(tmp_path)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "slow.py").write_text(SLOW_RUN)
    shards = tmp_path / "killed" / "k" / "01_judge" / "shards"
    before = kill_mid_run([sys.executable, str(tmp_path / "slow.py"), str(tmp_path / "spec.json"),
                           str(tmp_path / "killed")], tmp_path / "killed.log", shards, "*.parquet", 3,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    jobs = ROWS // SHARD
    assert 3 <= len(before) < jobs, f"kill landed at {len(before)} of {jobs} jobs; the test needs a mid-judge kill"
    assert not (shards.parent / "_SUCCESS").exists()

    asked = []
    fast = DummyLLM.generate
    monkeypatch.setattr(DummyLLM, "generate", lambda self, prompts, params: asked.append(len(prompts))
                        or fast(self, prompts, params))
    resumed = _run(spec, tmp_path / "killed")
    assert sum(asked) == ASPECTS * SHARD * (jobs - len(before))  # only the unsaved shards were judged
    assert {p.name: p.stat().st_mtime_ns for p in shards.glob("*.parquet") if p.name in before} == before
    assert len(list(shards.glob("*.parquet"))) == jobs

    clean = _run(spec, tmp_path / "clean")
    judged = [load_dataset(d / "k" / "01_judge" / "shards") for d in (tmp_path / "killed", tmp_path / "clean")]
    assert judged[0].to_list() == judged[1].to_list()
    assert len(resumed) == math.ceil(0.25 * len(judged[0])) and resumed.to_list() == clean.to_list()

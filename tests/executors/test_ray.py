"""executor: ray on one local Ray instance (2 CPUs, started once for this file).

- the SCoder pipeline (+ select_top) under local and ray: the same kept rows, the same
  rejected rows and reasons, the same stats counts, stage by stage;
- the driver SIGKILLed mid-stage (a subprocess joining this instance through RAY_ADDRESS),
  then the same run again: nothing redone, lost or duplicated, the rows of a local run;
- a worker process that dies mid-job: over ray.max_retries the run fails and keeps its
  finished jobs; within it the job is retried and the rows are the local ones;
- the distributed dedup gives the local clusters with verify, keep: longest and normalize: auto
  (renamed copies verified by renaming inside the shuffle reduce).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a Ray instance and its workers start: ~2 minutes for the file on 2 busy vCPUs

from helpers.kill import kill_mid_run  # noqa: E402  (tests/helpers/kill.py)
from helpers.scoder_answers import ANSWERS  # noqa: E402  (tests/helpers/scoder_answers.py)

from synthkit.core import rundir  # noqa: E402
from synthkit.core.pipeline import Pipeline  # noqa: E402
from synthkit.errors import SynthkitError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"  # on the workers' PYTHONPATH, for helpers.ray_tasks


@pytest.fixture(scope="module")
def cluster() -> str:
    """A local Ray instance; its workers can import ``helpers.ray_tasks``. Yields its address."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING",
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}})
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def same(rows: list[dict]) -> list[dict]:
    """Rows without the one wall-clock value in them (two local runs differ in it too)."""
    return [{**r, "verify": {**r["verify"], "duration_s": None}} if r.get("verify") else r for r in rows]


def outputs(run_dir: Path) -> dict[str, tuple]:
    """Per stage folder: kept rows in order, rejected rows sorted, and the stats counts."""
    out = {}
    for d in sorted(p for p in run_dir.iterdir() if p.is_dir() and p.name[:2].isdigit()):
        stats = json.loads((d / "stats.json").read_text())
        rejected = rundir.load_dataset(d / "rejected").to_list()
        out[d.name] = (same(rundir.load_dataset(d / "shards").to_list()),
                       same(sorted(rejected, key=lambda r: (str(r.get("id")), r["rejected_by"]))),
                       {k: stats[k] for k in ("rows_in", "kept", "dropped", "tokens_generated")})
    return out


# --- the same rows --------------------------------------------------------------------

def scoder(workdir: Path, executor: str) -> Pipeline:
    """pipelines/scoder.yaml on the dummy backend, with select_top after the judge."""
    import yaml

    raw = yaml.safe_load((ROOT / "pipelines" / "scoder.yaml").read_text())
    stages = raw["stages"]
    del stages[1]   # the snippet pool's decontamination (tested in tests/test_scoder_pipeline.py)
    stages[0]["limit"] = 6
    stages[1].update(style="chat", n=5, checkpoints=["ckA", "ckB"])
    stages[3].update(style="chat", llm={"dummy_responses": ["7"]}, shard_size=8)
    stages[-1]["path"] = str(workdir / "out")
    stages.insert(4, {"stage": "select_top", "by": "scores.judge", "fraction": 0.75})
    llm = {"backend": "dummy", "dummy_responses": ANSWERS}
    return Pipeline(stages, name="scoder", llm=llm, workdir=workdir, base_dir=ROOT / "pipelines", executor=executor)


def test_scoder_pipeline_gives_the_same_rows_under_local_and_ray(cluster, tmp_path):
    local = scoder(tmp_path / "local", "local")
    local_rows = local.run().to_list()
    on_ray = scoder(tmp_path / "ray", "ray")
    ray_rows = on_ray.run().to_list()
    assert same(ray_rows) == same(local_rows) and len(ray_rows) >= 2
    a, b = outputs(local.run_dir), outputs(on_ray.run_dir)
    assert list(a) == list(b) == ["00_load_seeds", "01_synthesize", "02_verify_tests", "03_judge", "04_select_top",
                                  "05_dedup_minhash", "06_decontaminate", "07_save"]
    for stage in a:
        assert a[stage][0] == b[stage][0], f"{stage}: kept rows differ"
        assert a[stage][1] == b[stage][1], f"{stage}: rejected rows differ"
        assert a[stage][2] == b[stage][2], f"{stage}: counts differ"
    dropped = {s: a[s][2]["dropped"] for s in a}
    assert dropped["02_verify_tests"] and dropped["04_select_top"] == {"below_top": 9}
    # what the stage reports from inside the workers (the sandbox it ran in) reaches stats.json too
    sandbox = [json.loads((d / "02_verify_tests" / "stats.json").read_text()).get("sandbox")
               for d in (local.run_dir, on_ray.run_dir)]
    assert sandbox[0] and sandbox[0]["isolation"] and sandbox[1] == sandbox[0]
    assert dropped["05_dedup_minhash"] and dropped["06_decontaminate"] == {"contaminated": 1}
    assert len(list((on_ray.run_dir / "03_judge" / "shards").glob("*"))) == 5  # whole stages read many shards
    assert not list((tmp_path / "ray" / ".llm_cache" / "writers").glob("*.sqlite"))  # merged by the driver


# --- SIGKILL of the driver --------------------------------------------------------------

ROWS, SHARD = 16, 2  # 8 verify_tests jobs; each program sleeps, so the kill lands mid-stage

DRIVER = """
import json, logging, sys
from synthkit.core.pipeline import Pipeline
logging.basicConfig(level=logging.INFO)
spec = json.loads(open(sys.argv[1]).read())
Pipeline(spec["stages"], name="k", workdir=sys.argv[2], executor="ray").run()
"""


def _kill_spec(tmp_path: Path) -> dict:
    seeds = tmp_path / "rows.jsonl"
    seeds.write_text("".join(json.dumps({
        "id": f"r{i:02d}", "entry_point": f"f{i}", "tests": f"assert f{i}(1) == {1 + i}",
        "code": f"import time\n\ndef f{i}(x):\n    time.sleep(0.3)\n    return x + {i if i % 5 else 0}",
    }) + "\n" for i in range(ROWS)))
    return {"stages": [{"stage": "load_seeds", "path": str(seeds)},
                       {"stage": "verify_tests", "shard_size": SHARD, "timeout_s": 20}]}


def test_sigkill_of_the_driver_mid_stage_then_the_same_run_finishes_it(cluster, tmp_path):
    spec = _kill_spec(tmp_path)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "driver.py").write_text(DRIVER)
    shards = tmp_path / "killed" / "k" / "01_verify_tests" / "shards"
    env = {**os.environ, "RAY_ADDRESS": cluster, "PYTHONPATH": str(ROOT)}
    before = kill_mid_run([sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "spec.json"),
                           str(tmp_path / "killed")], tmp_path / "driver.log", shards, "*.parquet", 2,
                          env=env, cwd=tmp_path, timeout_s=240)
    jobs = ROWS // SHARD
    assert 2 <= len(before) < jobs, f"the kill landed at {len(before)} of {jobs} jobs"
    assert not (shards.parent / "_SUCCESS").exists()
    assert "joining the cluster" in (tmp_path / "driver.log").read_text()  # RAY_ADDRESS was honoured

    resumed = Pipeline(spec["stages"], name="k", workdir=tmp_path / "killed", executor="ray").run()
    after = {p.name: p.stat().st_mtime_ns for p in shards.glob("*.parquet")}
    assert len(after) == jobs and all(after[k] == v for k, v in before.items())  # finished jobs not redone
    clean = Pipeline(spec["stages"], name="k", workdir=tmp_path / "clean").run()
    assert same(resumed.to_list()) == same(clean.to_list())
    assert outputs(tmp_path / "killed" / "k") == outputs(tmp_path / "clean" / "k")
    assert outputs(tmp_path / "clean" / "k")["01_verify_tests"][2]["dropped"] == {"failed": 3}


# --- a worker that dies ---------------------------------------------------------------

def test_a_dead_workers_job_is_retried_and_over_the_limit_the_run_stops(cluster, tmp_path):
    seeds = tmp_path / "rows.jsonl"
    seeds.write_text("".join(json.dumps({"id": f"r{i:02d}", "x": i}) + "\n" for i in range(12)))
    kwargs = {"markers": str(tmp_path / "deaths"), "victim": "r05", "times": 2}
    stages = [{"stage": "load_seeds", "path": str(seeds)},
              {"stage": "map", "function": "helpers.ray_tasks:die", "kwargs": kwargs, "shard_size": 2}]

    def run(workdir: Path, **ray_cfg):
        return Pipeline(stages, name="d", workdir=workdir, executor="ray" if ray_cfg else "local",
                        ray=ray_cfg or None).run()

    with pytest.raises(SynthkitError, match=r"job p000-s000002: its worker died 1 time\(s\), more than "
                                            r"ray.max_retries = 0"):
        run(tmp_path / "w", max_retries=0, workers=1)
    shards = tmp_path / "w" / "d" / "01_map" / "shards"
    assert not (shards / "p000-s000002.parquet").exists()
    kept = {p.name: p.stat().st_mtime_ns for p in shards.glob("*.parquet")}
    rows = run(tmp_path / "w", max_retries=1, workers=1).to_list()  # dies once more, then the retry passes
    assert len(list((tmp_path / "deaths").iterdir())) == 2
    assert all((shards / k).stat().st_mtime_ns == v for k, v in kept.items())
    assert rows == run(tmp_path / "local").to_list() and [r["id"] for r in rows] == [f"r{i:02d}" for i in range(12)]


# --- the distributed dedup, its harder settings ------------------------------------------

def test_ray_dedup_finds_the_local_clusters_with_verify_and_keep_longest(cluster, tmp_path):
    import random

    import numpy as np
    from helpers.corpus import rename_identifiers, stdlib_functions

    from synthkit.core.shards import ShardedInput
    from synthkit.dedup.minhash import ShingleSpec
    from synthkit.dedup.near_dedup import DedupSettings, find_duplicates
    from synthkit.dedup.ray_dedup import find_duplicates_ray

    rng, texts = random.Random(0), []
    for i, f in enumerate(stdlib_functions(120)):
        texts.append(f)
        if i % 5 == 0:  # every name renamed: a near copy as code (normalize: auto), verified on Ray too
            texts.append(rename_identifiers(f, seed=i))
        if i % 3 == 0:  # a near copy: one word changed
            words = f.split(" ")
            words[rng.randrange(len(words))] = "zz"
            texts.append(" ".join(words))
        if i % 7 == 0:
            texts.append(f.upper())  # an exact copy once normalised
    texts += ["", "  "]
    rng.shuffle(texts)
    rows = [{"id": f"r{i}", "code": t} for i, t in enumerate(texts)]
    for k in range(0, len(rows), 37):
        rundir.write_rows(tmp_path / "in", rundir.job_key(0, k // 37), rows[k:k + 37])
    source = ShardedInput.of(tmp_path / "in")
    settings = DedupSettings(verify=True, keep="longest", batch_rows=64, spec=ShingleSpec(normalize="auto"))
    local = find_duplicates(rundir.load_dataset(tmp_path / "in"), settings, tmp_path / "a")
    dist = find_duplicates_ray(source.files, source.counts, settings, tmp_path / "b", blocks=3)
    for name in ("cluster", "rep", "exact"):
        assert np.array_equal(getattr(local, name), getattr(dist, name)), name
    assert local.stats["near_removed"] > 0 and local.stats["exact_removed"] > 0
    assert local.stats["code_rows"] > 0 and local.stats["rejected_pairs"] > 0

"""The executor's contract without a cluster: config keys checked at load time, the CLI flag,
the plumbing of whole-dataset verdicts, and the LLM cache with many writers."""

from __future__ import annotations

import json
import multiprocessing as mp
import os

import pytest

from synthkit.core import rundir
from synthkit.core.executor import batches, write_verdict_job
from synthkit.core.pipeline import Pipeline
from synthkit.core.shards import ShardedInput, Verdicts
from synthkit.errors import ConfigError
from synthkit.llm.base import LLMConfig, SamplingParams
from synthkit.llm.cache import SHARDED_ENV, CachedLLM, merge_writers
from synthkit.llm.dummy import DummyLLM


def _pipe(**kw) -> Pipeline:
    return Pipeline([{"stage": "load_seeds", "path": "x.jsonl"}], name="t", **kw)


def test_executor_defaults_to_local_and_ray_keys_are_checked_at_load_time():
    assert _pipe().config.executor == "local"
    cfg = _pipe(executor="ray", ray={"address": "10.0.0.1:6379", "num_gpus_per_llm_worker": 2}).config
    assert (cfg.executor, cfg.ray.address, cfg.ray.num_gpus_per_llm_worker) == ("ray", "10.0.0.1:6379", 2)
    with pytest.raises(ConfigError) as e:
        _pipe(executor="ray", ray={"num_gpu_per_llm_worker": 1})
    msg = str(e.value)
    assert msg.startswith("ray.num_gpu_per_llm_worker: unknown key. Allowed: address, num_cpus, workers")
    assert "num_gpus_per_llm_worker" in msg and "max_retries" in msg
    with pytest.raises(ConfigError, match="executor: Input should be 'local' or 'ray'"):
        _pipe(executor="spark")
    with pytest.raises(ConfigError, match=r"ray\.max_retries"):
        _pipe(ray={"max_retries": -1})


def test_yaml_and_cli_flag_select_the_executor(tmp_path, monkeypatch):
    from synthkit import cli, rounds

    yaml_file = tmp_path / "p.yaml"
    yaml_file.write_text("name: t\nray: {num_cpus: 2}\nstages:\n  - {stage: load_seeds, path: x.jsonl}\n")
    pipe = Pipeline.from_yaml(yaml_file)
    assert pipe.config.executor == "local" and pipe.config.ray.num_cpus == 2
    seen = []
    monkeypatch.setattr(rounds, "run", lambda p: seen.append(p.config) or [])
    assert cli.main(["run", str(yaml_file), "--executor", "ray"]) == 0
    assert seen[-1].executor == "ray" and seen[-1].ray.num_cpus == 2
    assert cli.main(["run", str(yaml_file)]) == 0 and seen[-1].executor == "local"
    yaml_file.write_text("name: t\nray: {adress: x}\nstages:\n  - {stage: load_seeds, path: x.jsonl}\n")
    assert cli.main(["run", str(yaml_file), "--executor", "ray"]) == 2


def test_sharded_input_cuts_the_units_the_local_loop_cuts(tmp_path):
    rows = [{"id": f"r{i:02d}", "x": i} for i in range(23)]
    for k, lo in enumerate((0, 7, 7, 16)):  # uneven files, one of them empty
        hi = {0: 7, 1: 7, 2: 16, 3: 23}[k]
        rundir.write_rows(tmp_path, rundir.job_key(0, k), rows[lo:hi])
    source = ShardedInput.of(tmp_path)
    assert source.counts == [7, 0, 9, 7] and source.offsets == [0, 7, 7, 16] and source.n == 23
    local = list(batches(tmp_path, 5))
    assert [source.rows(s * 5, (s + 1) * 5) for s in range(len(local))] == local
    assert source.column("id") == [r["id"] for r in rows] and source.column("nope") is None
    assert source.column_names() == ["id", "x"]


def test_verdicts_become_units_with_the_local_rejection_rows(tmp_path):
    verdicts = Verdicts({1: ("near_duplicate", "dup of r0", {"dup_of": "r0"}), 5: ("below_top", "rank 9", {})})
    per_file = verdicts.by_file([0, 3, 3], [3, 0, 4])
    assert per_file == [{1: ("near_duplicate", "dup of r0", {"dup_of": "r0"})}, {}, {2: ("below_top", "rank 9", {})}]
    with pytest.raises(ValueError, match="outside the input"):
        Verdicts({9: ("x", "", {})}).by_file([0], [3])
    sdir = rundir.StageDir(tmp_path / "00_x")
    import pyarrow as pa

    rows = [{"id": f"r{i}", "v": i} for i in range(3)]
    funnel = write_verdict_job(sdir, "dedup_minhash", rundir.job_key(0, 0), pa.Table.from_pylist(rows),
                                per_file[0], seconds=1.5)
    assert (funnel.rows_in, funnel.kept, funnel.dropped) == (3, 2, {"near_duplicate": 1})
    assert rundir.load_dataset(sdir.data).to_list() == [rows[0], rows[2]]
    [rej] = rundir.load_dataset(sdir.path / rundir.REJECTED).to_list()
    assert rej == {"id": "r1", "v": 1, "dup_of": "r0", "rejected_by": "dedup_minhash:near_duplicate",
                   "rejected_detail": "dup of r0"}
    # every row dropped: the empty kept shard has the input's columns, not the extra ones
    write_verdict_job(sdir, "dedup_minhash", rundir.job_key(0, 1), pa.Table.from_pylist(rows[:1]),
                       {0: ("near_duplicate", "x", {"dup_of": "r9"})})
    assert rundir.load_table(sdir.data).column_names == ["id", "v"]


# --- the LLM cache with many writers --------------------------------------------------

def _writer(cache_dir: str, prompts: list[str], barrier) -> None:
    os.environ[SHARDED_ENV] = "1"
    llm = CachedLLM(DummyLLM(LLMConfig(backend="dummy")), cache_dir)
    barrier.wait()  # every writer starts at once
    for p in prompts:
        llm.generate([p], SamplingParams(seed=1))
    llm.close()


def test_many_sharded_writers_lose_nothing_and_merge_into_one_file(tmp_path):
    params = SamplingParams(seed=1)
    plain = CachedLLM(DummyLLM(LLMConfig(backend="dummy")), tmp_path)  # an old entry in the main file
    old = plain.generate(["old prompt"], params)
    plain.close()
    groups = [[f"p{i}" for i in range(k, 40, 4)] + ["shared"] for k in range(4)]
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(groups))
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), g, barrier)) for g in groups]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    writers = sorted((tmp_path / "writers").glob("*.sqlite"))
    assert len(writers) == 4 and not (tmp_path / "writers" / "llm_cache.sqlite").exists()
    (tmp_path / "writers" / "cut-short.sqlite").write_bytes(b"not a database")  # a writer killed mid-file
    assert merge_writers(tmp_path) == 4 and not list((tmp_path / "writers").glob("*"))
    fresh = CachedLLM(DummyLLM(LLMConfig(backend="dummy")), tmp_path)
    prompts = [p for g in groups for p in g] + ["old prompt"]
    assert fresh.generate(prompts, params) == DummyLLM(LLMConfig(backend="dummy")).generate(prompts, params)
    assert fresh.misses == 0 and fresh.generate(["old prompt"], params) == old
    fresh.close()


def test_a_sharded_reader_sees_the_main_file_and_writes_only_its_own(tmp_path, monkeypatch):
    params = SamplingParams(seed=3)
    main = CachedLLM(DummyLLM(LLMConfig(backend="dummy")), tmp_path)
    main.generate(["a"], params)
    main.close()
    merge_writers(tmp_path)  # nothing to merge; the main file stays as it is
    monkeypatch.setenv(SHARDED_ENV, "1")
    worker = CachedLLM(DummyLLM(LLMConfig(backend="dummy")), tmp_path)
    worker.generate(["a", "b"], params)
    assert (worker.hits, worker.misses) == (1, 1)
    worker.close()
    [own] = (tmp_path / "writers").glob("*.sqlite")
    import sqlite3

    con = sqlite3.connect(own)
    assert con.execute("SELECT COUNT(*) FROM generate").fetchone() == (1,)  # only "b"
    con.close()
    assert json.loads(json.dumps(merge_writers(tmp_path))) == 1


def test_the_workers_extra_stats_merge_into_one_dict():
    from synthkit.core.ray_executor import merge_worker_stats  # ray itself is not imported

    full = {"isolation": "full", "via": "userns"}
    assert merge_worker_stats([]) == {}
    assert merge_worker_stats([{"sandbox": full}, {"sandbox": dict(full)}]) == {"sandbox": full}
    basic = {"isolation": "basic", "via": "none"}
    merged = merge_worker_stats([{"sandbox": full}, {"sandbox": basic, "n": 1}, {"sandbox": full}])
    assert merged == {"sandbox": {"per_worker": [full, basic]}, "n": 1}  # a disagreement is shown, not hidden

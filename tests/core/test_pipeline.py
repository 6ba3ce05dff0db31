from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import pytest
from helpers.kill import kill_mid_run

from synthkit.core.pipeline import Pipeline
from synthkit.errors import DataError, SynthkitError

ROOT = Path(__file__).resolve().parents[2]


def _pipeline(seeds_file, workdir, **gen):
    stages = [{"stage": "load_seeds", "path": str(seeds_file)},
              {"stage": "generate", "template": "{instruction}", "n": 2, "shard_size": 3, **gen}]
    return Pipeline(stages, name="t", llm={"backend": "dummy"}, workdir=workdir)


def test_run_writes_run_dir_and_returns_dataset(seeds_file, tmp_path):
    pipe = _pipeline(seeds_file, tmp_path / "runs")
    ds = pipe.run()
    assert isinstance(ds, datasets.Dataset) and len(ds) == 20
    assert len(set(ds["id"])) == 20 and ds[0]["messages"][1]["role"] == "assistant"
    gen = pipe.run_dir / "01_generate"
    for name in ("_SUCCESS", "stats.json", "_FINGERPRINT"):
        assert (gen / name).exists()
    assert len(list((gen / "shards").glob("*.parquet"))) == 4  # ceil(10 / 3)
    stats = json.loads((gen / "stats.json").read_text())
    assert stats["rows_in"] == 10 and stats["kept"] == 20 and stats["tokens_generated"] > 0
    report = json.loads((pipe.run_dir / "report.json").read_text())
    assert [s["stage"] for s in report["stages"]] == ["load_seeds", "generate"]
    assert report["rows_out"] == 20 and report["stages"][1]["completion_tokens"] > 0
    assert report["stages"][1]["tokens_per_s"] is None  # the dummy backend reports no throughput


def test_rejections_keep_reason(seeds_file, tmp_path):
    pipe = _pipeline(seeds_file, tmp_path / "runs", template="{instruction[99]}")  # IndexError per row
    assert len(pipe.run()) == 0
    gen = pipe.run_dir / "01_generate"
    rejected = datasets.Dataset.from_parquet([str(p) for p in sorted((gen / "rejected").glob("*.parquet"))])
    assert len(rejected) == 10 and set(rejected["rejected_by"]) == {"generate:template_error"}
    assert json.loads((gen / "stats.json").read_text())["dropped"] == {"template_error": 10}


def test_rerun_skips_finished_and_redoes_changed_stage(seeds_file, tmp_path):
    _pipeline(seeds_file, tmp_path / "runs").run()
    gen = tmp_path / "runs" / "t" / "01_generate"
    seeds = tmp_path / "runs" / "t" / "00_load_seeds"
    marks = {p: (p / "_SUCCESS").stat().st_mtime_ns for p in (gen, seeds)}
    _pipeline(seeds_file, tmp_path / "runs").run()
    assert all((p / "_SUCCESS").stat().st_mtime_ns == m for p, m in marks.items())
    ds = _pipeline(seeds_file, tmp_path / "runs", n=1).run()
    assert len(ds) == 10
    assert (seeds / "_SUCCESS").stat().st_mtime_ns == marks[seeds]
    assert (gen / "_SUCCESS").stat().st_mtime_ns != marks[gen]


def test_yaml_and_python_list_give_same_rows(seeds_file, tmp_path):
    yml = tmp_path / "p.yaml"
    yml.write_text(textwrap.dedent(f"""
        name: t
        llm: {{backend: dummy}}
        stages:
          - {{stage: load_seeds, path: {seeds_file.name}}}
          - {{stage: generate, template: "{{instruction}}", n: 2, shard_size: 3}}
    """))
    a = Pipeline.from_yaml(yml, workdir=tmp_path / "a").run()
    b = _pipeline(seeds_file, tmp_path / "b").run()
    assert a.to_list() == b.to_list()


def test_stage_returning_garbage_is_an_error(tmp_path, seeds_file):
    from synthkit.core.stage import Stage, StageContext

    class Broken(Stage):
        name = "broken"

        def process(self, batch):
            return [None]

    from synthkit.core.executor import split
    with pytest.raises(SynthkitError, match="returned a NoneType"):
        split(Broken(Stage.Config(stage="broken"), StageContext(0, 0, tmp_path, tmp_path)), [None])


def test_duplicate_ids_are_caught(tmp_path):
    rows = tmp_path / "dup.jsonl"
    rows.write_text('{"id": "a", "x": 1}\n{"id": "a", "x": 2}\n')
    with pytest.raises(DataError, match="'a'"):
        Pipeline([{"stage": "load_seeds", "path": str(rows)}], workdir=tmp_path / "r").run()


SLOW_RUN = """
import sys, time
from synthkit.core.registry import register_stage
from synthkit.stages.generate import Generate
from synthkit.core.pipeline import Pipeline

@register_stage("slow_generate")
class SlowGenerate(Generate):
    def process(self, batch):
        time.sleep(0.15)
        return super().process(batch)

stages = [{"stage": "load_seeds", "path": sys.argv[1]},
          {"stage": "slow_generate", "template": "{instruction}", "n": 3, "shard_size": 2,
           "checkpoints": ["ckpt-a", "ckpt-b"]}]
ds = Pipeline(stages, name="k", llm={"backend": "dummy"}, workdir=sys.argv[2]).run()
print("ROWS", len(ds))
"""


def _seeds(tmp_path, n):
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps({"instruction": f"task {i}"}) + "\n" for i in range(n)))
    return path


def test_sigkill_mid_stage_resumes_without_loss_or_duplicates(tmp_path):
    seeds = _seeds(tmp_path, 30)
    script = tmp_path / "slow.py"
    script.write_text(SLOW_RUN)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    shards = tmp_path / "killed" / "k" / "01_slow_generate" / "shards"
    done = len(kill_mid_run([sys.executable, str(script), str(seeds), str(tmp_path / "killed")],
                            tmp_path / "killed.log", shards, "*.parquet", 18, env=env, poll_s=0.05))
    assert 18 <= done < 30, f"kill landed at {done} of 30 jobs; the test needs a mid-stage kill"
    assert not (shards.parent / "_SUCCESS").exists()
    # resume, then compare with an uninterrupted run
    for workdir in ("killed", "clean"):
        out = subprocess.run([sys.executable, str(script), str(seeds), str(tmp_path / workdir)], env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "ROWS 180" in out.stdout
    from synthkit.core.rundir import load_dataset
    a = load_dataset(tmp_path / "killed" / "k" / "01_slow_generate" / "shards")
    b = load_dataset(tmp_path / "clean" / "k" / "01_slow_generate" / "shards")
    assert len(a) == 180 and len(set(a["id"])) == 180
    assert a.to_list() == b.to_list()
    checkpoints = {m["checkpoint"] for m in a["meta"]}
    assert checkpoints == {"ckpt-a", "ckpt-b"}


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_disk_full_is_a_clear_error_and_nothing_is_lost(tmp_path):
    seeds = _seeds(tmp_path, 400)
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("tmpfs mount not permitted here")
    try:
        stages = [{"stage": "load_seeds", "path": str(seeds)},
                  {"stage": "generate", "template": "{instruction} " + "pad " * 40, "n": 4, "shard_size": 20}]
        pipe = Pipeline(stages, name="full", llm={"backend": "dummy"}, workdir=mnt)
        with pytest.raises(SynthkitError, match="disk full while writing .*run the same command again"):
            pipe.run()
        assert not list(mnt.rglob("*.tmp"))
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        ds = pipe.run()
        clean = Pipeline(stages, name="full", llm={"backend": "dummy"}, workdir=tmp_path / "clean").run()
        assert len(ds) == 1600 and ds.to_list() == clean.to_list()
    finally:
        subprocess.run(["umount", "-l", str(mnt)])

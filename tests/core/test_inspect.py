"""Every row inspectable: rejected rows of all stages load together (core.rejected),
`synthkit show` prints rows and `synthkit export` writes them (core.inspect)."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from synthkit.cli import main
from synthkit.core import rundir
from synthkit.core.pipeline import Pipeline

LONG = "Write a function that adds two numbers together and returns the sum."
TEXTS = [LONG, LONG, "Short one.", *(f"Write function number {i} which reverses a list of items." for i in range(3))]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """Drops in three stages, each seeing other columns: dedup (a duplicate), generate
    (a template that fails on a short instruction), select_top (all but the top 2)."""
    tmp = tmp_path_factory.mktemp("inspect")
    seeds = tmp / "seeds.jsonl"
    seeds.write_text("".join(json.dumps({"id": f"s{i}", "instruction": t}) + "\n" for i, t in enumerate(TEXTS)))
    pipe = Pipeline([{"stage": "load_seeds", "path": str(seeds)},
                     {"stage": "dedup_minhash", "columns": ["instruction"]},
                     {"stage": "generate", "template": "{instruction[20]}", "n": 2},
                     {"stage": "select_top", "by": "meta.seed", "k": 2}],
                    name="insp", llm={"backend": "dummy"}, workdir=tmp / "runs")
    assert len(pipe.run()) == 2
    return pipe.run_dir


def test_rejected_rows_of_every_stage_load_together(run_dir):
    ds = datasets.load_dataset("parquet", data_files=str(run_dir / "*" / "rejected" / "*.parquet"), split="train")
    assert ds.column_names == ["id", "rejected_by", "rejected_detail", "row"]
    by = sorted(set(ds["rejected_by"]))
    assert by == ["dedup_minhash:exact_duplicate", "generate:template_error", "select_top:below_top"]
    assert len(ds) == 1 + 1 + 6
    rows = {r["rejected_by"].split(":")[0]: json.loads(r["row"]) for r in ds}
    assert rows["dedup_minhash"] == {"id": "s1", "instruction": LONG, "dup_cluster": 0, "dup_of": "s0"}
    assert rows["generate"] == {"id": "s2", "instruction": "Short one."}
    assert {"response", "messages", "meta"} <= set(rows["select_top"])      # what that stage saw
    # rundir's readers give the flat rows back, as stages and tests read them
    [dup] = rundir.load_dataset(run_dir / "01_dedup_minhash" / "rejected").to_list()
    assert dup == {"id": "s1", "instruction": LONG, "dup_cluster": 0, "dup_of": "s0",
                   "rejected_by": "dedup_minhash:exact_duplicate", "rejected_detail": dup["rejected_detail"]}


def test_no_shard_without_columns_or_an_empty_rejected_file(run_dir):
    files = list(run_dir.rglob("*.parquet"))
    assert files and all(pq.read_schema(p).names for p in files)
    assert not (run_dir / "00_load_seeds" / "rejected").exists()      # nothing dropped, no empty file
    assert all(pq.ParquetFile(p).metadata.num_rows for p in run_dir.glob("*/rejected/*.parquet"))


def test_show_prints_rows_readably(run_dir, capsys):
    assert main(["show", str(run_dir), "--rejected"]) == 0
    out = capsys.readouterr().out
    assert "rejected_by: dedup_minhash:exact_duplicate" in out and "dup_of: s0" in out
    assert "rejected_by: generate:template_error" in out and "rejected_by: select_top:below_top" in out
    assert "(5 rejected rows shown; -n for more)" in out
    assert main(["show", str(run_dir), "--rejected", "template_error"]) == 0
    out = capsys.readouterr().out
    assert out.count("--- ") == 1 and "id: s2" in out and "instruction: Short one." in out
    assert main(["show", str(run_dir), "--stage", "generate", "-n", "1"]) == 0
    out = capsys.readouterr().out
    assert "messages:\n  user: " in out and "  assistant: dummy" in out and "kept by 02_generate" in out
    assert main(["show", str(run_dir), "--stage", "nope"]) == 2
    assert "no such stage" in capsys.readouterr().err


def test_export_writes_jsonl_and_parquet(run_dir, tmp_path, capsys):
    out = tmp_path / "below.jsonl"
    assert main(["export", str(run_dir), "--stage", "select_top", "--rejected", "--format", "jsonl", "-o", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6 and {r["rejected_by"] for r in rows} == {"select_top:below_top"}
    assert all(r["meta"]["stage"] == "generate" and r["messages"][0]["role"] == "user" for r in rows)
    every = tmp_path / "all.parquet"
    assert main(["export", str(run_dir), "--rejected", "--format", "parquet", "-o", str(every)]) == 0
    assert "wrote 8 rows" in capsys.readouterr().out
    table = datasets.Dataset.from_parquet(str(every))
    assert len(table) == 8 and {"dup_of", "response", "rejected_detail"} <= set(table.column_names)
    kept = tmp_path / "kept.parquet"
    assert main(["export", str(run_dir), "--stage", "3", "--format", "parquet", "-o", str(kept)]) == 0
    assert datasets.Dataset.from_parquet(str(kept))["id"] == rundir.load_dataset(run_dir / "03_select_top" / "shards")["id"]


def test_export_names_its_file_after_the_stage(run_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(run_dir), "--stage", "generate", "--rejected"]) == 0
    assert main(["export", str(run_dir), "--rejected", "--format", "parquet"]) == 0
    assert main(["export", str(run_dir)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["02_generate-rejected.jsonl", "03_select_top.jsonl",
                                                         "all-rejected.parquet"]

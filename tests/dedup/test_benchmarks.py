"""Benchmark loading: offline HumanEval, bundled tasks, local files, clear errors."""

from __future__ import annotations

import json

import pytest

from synthkit.errors import ConfigError, DataError
from synthkit.dedup.benchmarks import load_benchmark


def test_humaneval_loads_offline_from_the_package():
    items = load_benchmark("humaneval")
    assert len(items) == 164 and items[0].item_id == "HumanEval/0"
    first = items[0]
    assert first.programs[0].startswith(first.prompt) and "return False" in first.programs[0]


def test_bundled_held_out_tasks_load():
    items = load_benchmark("bundled:test")
    assert items and all(i.item_id.startswith("synthkit/") for i in items)
    assert all(i.programs and "def " in i.programs[0] for i in items)


def test_local_files(tmp_path):
    rows = [{"task_id": "t1", "text": "Write a function to add.", "code": "def add(a, b):\n    return a + b"},
            {"task_id": "t2", "text": "Write a function to sub.", "code": "def sub(a, b):\n    return a - b"}]
    jl = tmp_path / "mbpp.jsonl"
    jl.write_text("\n".join(json.dumps(r) for r in rows))
    items = load_benchmark("mbpp", jl)                       # a known name, read from a local copy
    assert [i.item_id for i in items] == ["t1", "t2"] and items[1].solutions == [rows[1]["code"]]
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{"q": "Q?", "sols": json.dumps(["a = 1", "b = 2"])}]), tmp_path / "b.parquet")
    item = load_benchmark(path=tmp_path / "b.parquet", prompt_fields=["q"], solution_fields=["sols"])[0]
    assert item.benchmark == "b" and item.prompt == "Q?" and item.solutions == ["a = 1", "b = 2"]
    guessed = load_benchmark(path=jl)[0]                     # fields guessed: text + code
    assert guessed.prompt == rows[0]["text"] and guessed.solutions == [rows[0]["code"]]


def test_errors_name_the_problem(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="Available: humaneval"):
        load_benchmark("humaneval_plus")
    with pytest.raises(DataError, match="does not exist"):
        load_benchmark(path=tmp_path / "missing.jsonl")
    (tmp_path / "odd.jsonl").write_text(json.dumps({"foo": 1}))
    with pytest.raises(DataError, match="prompt_fields"):
        load_benchmark(path=tmp_path / "odd.jsonl")
    import datasets.config
    import huggingface_hub.constants

    # Offline mode makes load_dataset fail at once instead of retrying DNS for 30 s.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    for name in ("mbpp", "apps", "ds1000"):
        with pytest.raises(DataError, match=f"pass a local copy.*name: {name}, path"):
            load_benchmark(name)

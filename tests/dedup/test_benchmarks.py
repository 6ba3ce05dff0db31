"""Benchmark loading: offline HumanEval, bundled tasks, local files, clear errors."""

from __future__ import annotations

import json

import pytest

from synthkit.dedup.benchmarks import load_benchmark
from synthkit.errors import ConfigError, DataError


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
    with pytest.raises(ConfigError, match="Available: humaneval"):
        load_benchmark()
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


DS1000_ROWS = [
    {"prompt": "Problem:\nI have a DataFrame of sensor readings and want the rolling median of the pressure "
               "column over a window of five, centred, ignoring missing values.\nA:\n<code>\nimport pandas as pd\n"
               "df = load_data()\n</code>\nresult = ... # put solution in this variable\nBEGIN SOLUTION\n<code>\n",
     "reference_code": "result = df['pressure'].rolling(5, center=True, min_periods=1).median()\n",
     "metadata": {"problem_id": 321, "library_problem_id": 4, "library": "Pandas", "perturbation_type": "Origin"},
     "code_context": "import pandas as pd\ndef test_execution(solution: str):\n    ...\n"},
    {"prompt": "Problem:\nHow do I count the non-zero entries of a numpy array along axis one?\n",
     "reference_code": "result = np.count_nonzero(a, axis=1)\n",
     "metadata": {"problem_id": 322, "library": "Numpy"}, "code_context": ""},
]


def test_ds1000_format_is_detected(tmp_path):
    jl = tmp_path / "ds1000_local.jsonl"
    jl.write_text("".join(json.dumps(r) + "\n" for r in DS1000_ROWS))
    items = load_benchmark(path=jl)                          # fields from the format, not guessed
    assert [i.item_id for i in items] == ["321", "322"] and items[0].benchmark == "ds1000_local"
    assert items[0].prompt == DS1000_ROWS[0]["prompt"] and items[0].solutions == [DS1000_ROWS[0]["reference_code"]]
    named = load_benchmark("ds1000", jl)                     # the known name, read from a local copy
    assert [(i.benchmark, i.item_id) for i in named] == [("ds1000", "321"), ("ds1000", "322")]
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [dict(r, metadata=json.dumps(r["metadata"])) for r in DS1000_ROWS]   # metadata as a JSON string
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "ds.parquet")
    assert [i.item_id for i in load_benchmark(path=tmp_path / "ds.parquet")] == ["321", "322"]


def test_json_list_and_json_lines_read_alike(tmp_path):
    rows = [{"task_id": "t1", "text": "Write a function to add.", "code": "def add(a, b):\n    return a + b"}]
    (tmp_path / "list.json").write_text(json.dumps(rows, indent=2))
    (tmp_path / "lines.json").write_text(json.dumps(rows[0]) + "\n")
    (tmp_path / "t.jsonl").write_text(json.dumps(rows[0]) + "\n")
    a, b, c = (load_benchmark("x", tmp_path / f) for f in ("list.json", "lines.json", "t.jsonl"))
    assert a == b == c and a[0].item_id == "t1"


def test_hub_spec_and_every_bundled_name(tmp_path):
    import datasets

    datasets.Dataset.from_list(DS1000_ROWS).save_to_disk(str(tmp_path / "ds"))
    items = load_benchmark(f"hub:{tmp_path / 'ds'}")
    assert [i.item_id for i in items] == ["321", "322"] and items[0].benchmark == f"hub:{tmp_path / 'ds'}"
    test, train, every = (load_benchmark(n) for n in ("bundled:test", "bundled:train", "bundled"))
    assert len(test) + len(train) == len(every) and test[0].benchmark == "bundled:test"

"""decontaminate stage: planted benchmark copies are dropped and reported; clean rows stay."""

from __future__ import annotations

import json

import datasets
import pydantic
import pytest

from synthkit.errors import DataError
from synthkit.core.registry import STAGES
from synthkit.core.stage import StageContext
from synthkit.dedup.benchmarks import load_benchmark
from synthkit.dedup.corpus import add_comments, rename_identifiers, stdlib_functions
from synthkit.stages.decontaminate import Decontaminate as S


def make(tmp_path, **cfg) -> S:
    return S(S.Config(stage="decontaminate", **cfg), StageContext(index=0, seed=0, stage_dir=tmp_path,
                                                                  base_dir=tmp_path))


@pytest.fixture(scope="module")
def data():
    he = load_benchmark("humaneval")
    held_out = load_benchmark("bundled:test")
    clean = stdlib_functions(150, modules=("textwrap", "heapq", "shutil", "difflib", "csv"))
    rows = [{"id": f"c{i}", "instruction": "Refactor this helper.", "code": c} for i, c in enumerate(clean)]
    rows += [
        {"id": "he_verbatim", "instruction": "Solve it.", "code": clean[0] + "\n" + he[5].programs[0]},
        {"id": "he_renamed", "instruction": "Solve it.", "code": rename_identifiers(he[12].programs[0])},
        {"id": "he_prompt", "instruction": "Here is the task:\n" + he[20].prompt, "code": clean[1]},
        {"id": "held_out", "instruction": "Do it.", "code": add_comments(held_out[0].programs[0])},
    ]
    return rows, he, held_out


def test_drops_planted_rows_and_writes_report(data, tmp_path):
    rows, he, held_out = data
    assert STAGES.get("decontaminate") is S
    stage = make(tmp_path)                               # default: humaneval (+ bundled:test always)
    kept, rejected = stage.process_all(datasets.Dataset.from_list(rows))
    gone = {r.row["id"]: r for r in rejected}
    assert set(gone) == {"he_verbatim", "he_renamed", "he_prompt", "held_out"}, [r.detail for r in rejected]
    assert len(kept) == len(rows) - 4 and isinstance(kept, datasets.Dataset)
    r = gone["he_renamed"]
    assert r.reason == "contaminated" and "HumanEval/12" in r.detail
    assert all(m["item_id"] == "HumanEval/12" for m in r.row["contamination"])
    assert gone["held_out"].row["contamination"][0]["benchmark"] == "bundled:test"
    assert any(m["column"] == "instruction" for m in gone["he_prompt"].row["contamination"])
    report = json.loads((tmp_path / "contamination.json").read_text())
    s = report["summary"]
    assert s["rows_checked"] == len(rows) and s["rows_removed"] == 4
    assert s["benchmarks"] == {"humaneval": len(he), "bundled:test": len(held_out)}
    assert s["by_benchmark"] == {"bundled:test": 1, "humaneval": 3} and stage.summary == s
    entry = next(e for e in report["removed"] if e["row_id"] == "he_verbatim")
    m = entry["matches"][0]
    assert entry["row_index"] == len(rows) - 4 and m["item_id"] == "HumanEval/5"
    assert {"benchmark", "detector", "view", "column"} <= set(m) and ("span" in m or "similarity" in m)


def test_local_benchmark_file(tmp_path):
    bench = tmp_path / "mine.jsonl"
    bench.write_text(json.dumps({"id": "m1", "question": "Compute the frobnication index of a tree of widgets, counting nested ones once.",
                                 "answer": "def frob(t):\n    return sum(frob(c) for c in t.children) + 1\n"}))
    cfg = dict(benchmarks=[{"path": "mine.jsonl", "prompt_fields": ["question"], "solution_fields": ["answer"],
                            "id_field": "id"}], columns=["text"])
    # 10 words in a row shared with the question, with other case, spacing and punctuation
    rows = [{"text": "please compute the Frobnication   index of a TREE of widgets: counting them"}, {"text": "hello"}]
    kept, rejected = make(tmp_path, **cfg).process_all(rows)
    assert kept == [rows[1]] and rejected[0].row["contamination"][0]["item_id"] == "m1"
    assert rejected[0].row["contamination"][0]["benchmark"] == "mine"


def test_config_and_data_errors(tmp_path):
    with pytest.raises(pydantic.ValidationError, match="Available: humaneval"):
        S.Config(stage="decontaminate", benchmarks=["humaneval_plus"])
    cfg = S.Config(stage="decontaminate", benchmarks="mbpp")
    assert [b.name for b in cfg.benchmarks] == ["mbpp"]
    with pytest.raises(DataError, match="not in the dataset"):
        make(tmp_path, columns=["code"]).process_all(datasets.Dataset.from_list([{"x": "y"}]))
    kept, rejected = make(tmp_path).process_all(datasets.Dataset.from_list([]))
    assert len(kept) == 0 and rejected == []
    assert json.loads((tmp_path / "contamination.json").read_text())["summary"]["rows_removed"] == 0


def test_worker_pool_gives_the_same_result(data, tmp_path):
    rows, _, _ = data
    ds = datasets.Dataset.from_list(rows[:10] + rows[-4:])
    one = make(tmp_path / "a", num_workers=1, batch_rows=4).process_all(ds)
    two = make(tmp_path / "b", num_workers=2, batch_rows=4).process_all(ds)
    assert [r.row for r in one[1]] == [r.row for r in two[1]] and one[0]["id"] == two[0]["id"]
    assert len(two[1]) == 4

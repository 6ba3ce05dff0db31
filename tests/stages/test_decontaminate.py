"""decontaminate stage: planted benchmark copies are dropped and reported; clean rows stay."""

from __future__ import annotations

import json

import datasets
import pydantic
import pytest
from helpers.corpus import add_comments, rename_identifiers, stdlib_functions

from synthkit.core.registry import STAGES
from synthkit.core.stage import StageContext
from synthkit.dedup.benchmarks import load_benchmark
from synthkit.errors import DataError
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
    assert s["settings"] == {"detectors": ["substring", "ngram", "minhash"], "min_substring_chars": 50,
                             "ngram_text": 10, "ngram_code": 24, "max_item_share": 3, "threshold": 0.7,
                             "num_perm": 128, "min_tokens": 20}
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
    kept, rejected = make(tmp_path, **cfg).process_all(datasets.Dataset.from_list(rows))
    assert kept.to_list() == [rows[1]] and rejected[0].row["contamination"][0]["item_id"] == "m1"
    assert rejected[0].row["contamination"][0]["benchmark"] == "mine"


def test_config_and_data_errors(tmp_path):
    with pytest.raises(pydantic.ValidationError, match="Available: humaneval"):
        S.Config(stage="decontaminate", benchmarks=["humaneval_plus"])
    with pytest.raises(pydantic.ValidationError, match="Unknown benchmark 'humaneval_plus'"):
        S.Config(stage="decontaminate", benchmarks=[{"name": "humaneval_plus"}])
    with pytest.raises(pydantic.ValidationError, match="detectors"):
        S.Config(stage="decontaminate", detectors=["exact"])
    names = S.Config(stage="decontaminate", benchmarks=["ds1000", "hub:me/bench:test", "bundled", "b.json"])
    assert [(b.name, b.path) for b in names.benchmarks] == [("ds1000", None), ("hub:me/bench:test", None),
                                                             ("bundled", None), (None, "b.json")]
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
    one = make(tmp_path / "a", workers=1, batch_rows=4).process_all(ds)
    two = make(tmp_path / "b", workers=2, batch_rows=4).process_all(ds)
    assert [r.row for r in one[1]] == [r.row for r in two[1]] and one[0]["id"] == two[0]["id"]
    assert len(two[1]) == 4


def test_settings_reach_the_detector_by_name(tmp_path):
    from dataclasses import fields

    from synthkit.dedup.contamination import DETECTORS, DetectSettings
    from synthkit.stages.decontaminate import DETECTORS as STAGE_DETECTORS

    assert STAGE_DETECTORS == DETECTORS
    shared = {f.name for f in fields(DetectSettings)} & set(S.Config.model_fields)
    assert shared >= {"detectors", "min_substring_chars", "ngram_text", "ngram_code", "max_item_share",
                      "threshold", "num_perm", "min_tokens"}
    stage = make(tmp_path, detectors=["minhash", "ngram"], threshold=0.8, num_perm=64, min_tokens=5,
                 ngram_code=30, workers=1)
    s = stage.detect_settings()
    assert (list(s.detectors), s.threshold, s.num_perm, s.min_tokens, s.ngram_code) == (["ngram", "minhash"],
                                                                                         0.8, 64, 5, 30)


def test_ds1000_format_benchmark_file(tmp_path):
    """A local DS-1000-format file (prompt, reference_code, metadata) is decontaminated against."""
    ref = ("result = df.groupby('station')['pressure'].transform(lambda s: s.rolling(5, center=True, "
           "min_periods=1).median()).fillna(method='ffill')\n")
    rows = [{"prompt": "Problem:\nI have readings per weather station and want each station's centred rolling "
                       "median of pressure, window five, forward-filling what stays missing.\n<code>\n"
                       "import pandas as pd\ndf = load_data()\n</code>\nBEGIN SOLUTION\n<code>\n",
             "reference_code": ref, "metadata": {"problem_id": 77, "library": "Pandas"},
             "code_context": "def test_execution(solution: str):\n    ...\n"}]
    (tmp_path / "ds1000_test.json").write_text(json.dumps(rows))          # a JSON list
    data = [{"id": "copy", "code": "import pandas as pd\n\ndef smooth(df):\n    " + ref + "    return result\n"},
            {"id": "clean", "code": "def add(a, b):\n    return a + b\n"}]
    stage = make(tmp_path, benchmarks=[{"name": "ds1000", "path": "ds1000_test.json"}], columns=["code"])
    kept, rejected = stage.process_all(datasets.Dataset.from_list(data))
    assert [r["id"] for r in kept] == ["clean"] and [r.row["id"] for r in rejected] == ["copy"]
    m = rejected[0].row["contamination"][0]
    assert (m["benchmark"], m["item_id"]) == ("ds1000", "77")
    assert stage.summary["benchmarks"]["ds1000"] == 1

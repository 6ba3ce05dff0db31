"""dedup_minhash stage: process_all on a datasets.Dataset, rejections carry cluster and kept id."""

from __future__ import annotations

import json

import datasets
import pydantic
import pytest
from helpers.corpus import rename_identifiers, stdlib_functions

from synthkit.core.registry import STAGES
from synthkit.core.stage import StageContext
from synthkit.stages.dedup_minhash import DedupMinhash as S


def make(tmp_path, **cfg) -> S:
    return S(S.Config(stage="dedup_minhash", **cfg), StageContext(index=0, seed=0, stage_dir=tmp_path,
                                                                  base_dir=tmp_path))


@pytest.fixture(scope="module")
def rows():
    code = stdlib_functions(120, modules=("textwrap", "heapq", "shutil", "difflib"))
    out = [{"id": f"r{i}", "instruction": f"task {i}", "code": c} for i, c in enumerate(code)]
    renamed = rename_identifiers(code[3], seed=1)  # every name renamed, a comment added: a near copy as code
    out.append({"id": "copy_of_r3", "instruction": "x", "code": "# from the seed\n" + renamed})
    out.append({"id": "near_r7", "instruction": "y", "code": code[7] + "\n    return None  # more\n"})
    out.append({"id": "copy_of_r3_again", "instruction": "z", "code": code[3]})
    return out


def test_removes_duplicates_and_explains(rows, tmp_path):
    assert STAGES.get("dedup_minhash") is S
    ds = datasets.Dataset.from_list(rows)
    kept, rejected = make(tmp_path).process_all(ds)
    assert isinstance(kept, datasets.Dataset)
    gone = {r.row["id"]: r for r in rejected}
    assert {"copy_of_r3", "near_r7", "copy_of_r3_again"} <= set(gone)
    assert len(kept) + len(rejected) == len(rows)
    assert not set(gone) & set(kept["id"])
    r = gone["copy_of_r3"]
    assert r.reason == "near_duplicate" and r.row["dup_of"] == "r3" and r.row["dup_cluster"] == 3
    assert gone["copy_of_r3_again"].reason == "exact_duplicate"
    assert "cluster 3" in r.detail and "r3" in r.detail and "(3 rows)" in r.detail
    n = gone["near_r7"]
    assert n.reason == "near_duplicate" and n.row["dup_of"] == "r7" and n.row["code"] == rows[-2]["code"]
    stats = json.loads((tmp_path / "dedup.json").read_text())
    assert stats["bands"] * stats["rows_per_band"] <= 256 and stats["removed"] == len(rejected)
    assert stats["normalize"] == "auto" and stats["code_rows"] == len(rows)  # stdlib code parses
    assert not (tmp_path / "minhash").exists()         # signatures are temporary by default


def test_normalize_picks_the_view_per_row(rows, tmp_path):
    """auto: code rows compare as code (renames and comments do not matter), prose as text."""
    prose = [{"id": "p1", "code": "It's a lovely day in the park, isn't it? Let us walk."},
             {"id": "p2", "code": "IT'S A LOVELY DAY IN THE PARK, ISN'T IT? LET US WALK."}]
    kept, rejected = make(tmp_path, normalize="text").process_all(datasets.Dataset.from_list(rows + prose))
    assert "copy_of_r3" not in {r.row["id"] for r in rejected}   # as text, every name renamed: not similar
    assert "p2" in {r.row["id"] for r in rejected}
    kept, rejected = make(tmp_path).process_all(datasets.Dataset.from_list(rows + prose))
    gone = {r.row["id"]: r.reason for r in rejected}
    assert gone["copy_of_r3"] == "near_duplicate" and gone["p2"] == "exact_duplicate"
    assert json.loads((tmp_path / "dedup.json").read_text())["code_rows"] == len(rows)
    with pytest.raises(pydantic.ValidationError):
        S.Config(stage="dedup_minhash", normalize="python")


def test_columns_and_no_ids(tmp_path):
    ds = datasets.Dataset.from_list([{"a": "same text here ok", "b": "x"}, {"a": "same text here ok", "b": "y"},
                                     {"a": "same text here ok", "b": "x"}])
    kept, rejected = make(tmp_path, columns=["a", "b"], keep_workdir=True).process_all(ds)
    assert len(kept) == 2 and [r.row["dup_of"] for r in rejected] == ["#0"]
    assert (tmp_path / "minhash" / "band_0.u32").exists()
    kept, rejected = make(tmp_path, columns=["a"], mode="compat").process_all(ds)
    assert len(kept) == 1 and len(rejected) == 2


def test_rows_without_ids_and_empty_dataset(tmp_path):
    kept, rejected = make(tmp_path).process_all(datasets.Dataset.from_list([{"code": "a b c d e f"}] * 2))
    assert kept.to_list() == [{"code": "a b c d e f"}] and rejected[0].row["dup_of"] == "#0"
    kept, rejected = make(tmp_path).process_all(datasets.Dataset.from_list([]))
    assert len(kept) == 0 and rejected == []


def test_config_errors(tmp_path):
    with pytest.raises(pydantic.ValidationError, match="bands"):
        S.Config(stage="dedup_minhash", bands=8)
    with pytest.raises(pydantic.ValidationError, match="exceeds num_perm"):
        S.Config(stage="dedup_minhash", bands=64, rows=8, num_perm=256)
    with pytest.raises(pydantic.ValidationError):
        S.Config(stage="dedup_minhash", shingles=3)
    from synthkit.errors import DataError
    with pytest.raises(DataError, match="not in the dataset"):
        make(tmp_path, columns=["nope"]).process_all(datasets.Dataset.from_list([{"code": "x"}]))


def test_settings_reach_the_library_by_name(tmp_path):
    from dataclasses import fields

    from synthkit.dedup.near_dedup import DedupSettings

    assert {f.name for f in fields(DedupSettings)} - {"columns", "spec"} <= set(S.Config.model_fields)
    s = make(tmp_path, columns=["a", "b"], num_perm=64, threshold=0.8, workers=3, memory_mb=64, keep="longest",
             ngram=3, shingle="char").settings()
    assert (s.columns, s.num_perm, s.threshold, s.workers, s.memory_mb, s.keep) == (("a", "b"), 64, 0.8, 3, 64,
                                                                                    "longest")
    assert (s.spec.ngram, s.spec.kind) == (3, "char")

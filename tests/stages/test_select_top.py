from __future__ import annotations

import datasets
import pytest

from synthkit.core.config import parse_pipeline
from synthkit.core.stage import StageContext
from synthkit.errors import ConfigError
from synthkit.stages.select_top import SelectTop, keep_count, rank, top_indices


def make(tmp_path, **cfg):
    return SelectTop(SelectTop.Config(stage="select_top", **cfg), StageContext(0, 0, tmp_path, tmp_path))


def rows(scores):
    return [{"id": f"r{i}", "x": i, "scores": {"judge": s}} for i, s in enumerate(scores)]


SCORES = [5.0, 1.0, 9.0, 3.25, 7.0, 2.0, 8.0, 4.0, 6.0, 0.5]


def ids(out):
    return [r["id"] for r in out]


def test_fraction_keeps_the_best_in_input_order(tmp_path):
    data = rows(SCORES)
    kept, rej = make(tmp_path, fraction=0.5).process_all(datasets.Dataset.from_list(data))
    assert isinstance(kept, datasets.Dataset)
    kept = kept.to_list()
    assert ids(list(kept)) == ["r0", "r2", "r4", "r6", "r8"] and kept[0] == data[0]
    assert {r.reason for r in rej} == {"below_top"} and len(rej) == 5
    third = next(r for r in rej if r.row["id"] == "r3")
    assert third.detail == "scores.judge = 3.25, rank 7 of 10, keeping 5"


def test_fraction_rounds_up_and_counts_the_decimal_as_written(tmp_path):
    assert keep_count(10, fraction=0.25) == 3 and keep_count(100, fraction=0.07) == 7
    assert keep_count(3, fraction=1.0) == 3 and keep_count(0, fraction=0.5) == 0
    kept, _ = make(tmp_path, fraction=0.01).process_all(datasets.Dataset.from_list(rows(SCORES)))
    assert ids(list(kept)) == ["r2"]


def test_k_and_asc(tmp_path):
    kept, rej = make(tmp_path, k=3).process_all(datasets.Dataset.from_list(rows(SCORES)))
    assert ids(list(kept)) == ["r2", "r4", "r6"] and len(rej) == 7
    kept, _ = make(tmp_path, k=3, order="asc").process_all(datasets.Dataset.from_list(rows(SCORES)))
    assert ids(list(kept)) == ["r1", "r5", "r9"]
    kept, rej = make(tmp_path, k=50).process_all(datasets.Dataset.from_list(rows(SCORES)))
    assert len(kept) == 10 and not rej


def test_ties_are_broken_by_id_then_position(tmp_path):
    data = [{"id": i, "scores": {"judge": 1.0}} for i in ("c", "a", "d", "b")]
    ds = datasets.Dataset.from_list(data)
    kept, _ = make(tmp_path, k=2).process_all(ds)
    assert ids(list(kept)) == ["a", "b"]
    kept, _ = make(tmp_path, k=2, order="asc").process_all(ds)
    assert ids(list(kept)) == ["a", "b"]  # ties go by id in either order
    assert rank([2, 2, 2, 1], ids=["x", "x", "a", "z"]).tolist() == [2, 0, 1, 3]
    assert top_indices([2, 2, 2, 1], k=2).tolist() == [0, 1]  # no ids: by position


def test_rows_without_a_finite_score_are_no_score(tmp_path):
    data = rows([3.0, None, 1.0, float("nan"), 2.0, float("inf")])
    data[1]["scores"] = None
    data.append({"id": "r6", "x": 6, "scores": {"verify": 1.0}})
    kept, rej = make(tmp_path, k=1).process_all(datasets.Dataset.from_list(data))
    assert ids(list(kept)) == ["r0"]
    reasons = {r.row["id"]: (r.reason, r.detail) for r in rej}
    assert {i for i, (why, _) in reasons.items() if why == "no_score"} == {"r1", "r3", "r5", "r6"}
    assert reasons["r1"][1] == "scores.judge is missing" and "nan" in reasons["r3"][1]
    assert reasons["r2"] == ("below_top", "scores.judge = 1, rank 3 of 3, keeping 1")


@pytest.mark.parametrize("value, shown", [("9", "'9'"), (True, "True")])
def test_strings_and_bools_are_not_scores(tmp_path, value, shown):
    data = datasets.Dataset.from_list([{"id": "a", "score": value}])
    kept, rej = make(tmp_path, by="score", k=1).process_all(data)
    assert len(kept) == 0 and [(r.reason, r.detail) for r in rej] == [("no_score", f"score = {shown} is not a finite number")]


def test_deeper_paths_and_a_missing_column(tmp_path):
    data = [{"id": f"r{i}", "a": {"b": {"c": i}}} for i in range(4)]
    kept, _ = make(tmp_path, by="a.b.c", k=2).process_all(datasets.Dataset.from_list(data))
    assert ids(kept.to_list()) == ["r2", "r3"]
    kept, rej = make(tmp_path, by="nope.judge", k=2).process_all(datasets.Dataset.from_list(data))
    assert len(kept) == 0 and {r.reason for r in rej} == {"no_score"}


@pytest.mark.parametrize("cfg,msg", [({}, "set one of `fraction`"), ({"fraction": 0.5, "k": 2}, "not both"),
                                     ({"fraction": 0}, "greater than 0"), ({"fraction": 1.5}, "less than"),
                                     ({"k": 0}, "greater than or equal"), ({"k": 1, "order": "up"}, "desc"),
                                     ({"k": 1, "by": "scores..judge"}, "dotted path")])
def test_config_errors(cfg, msg):
    with pytest.raises(ConfigError, match=msg):
        parse_pipeline({"name": "x", "stages": [{"stage": "select_top", **cfg}]})

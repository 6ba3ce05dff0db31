from __future__ import annotations

import json
import uuid

import pytest

from synthkit.core import rundir
from synthkit.core.pipeline import Pipeline
from synthkit.core.stage import StageContext
from synthkit.errors import ConfigError, DataError
from synthkit.stages.filter import Filter
from synthkit.stages.map import Map

FUNCTIONS = '''
def add_len(row, suffix=""):
    return {**row, "n": len(row["text"]), "tag": suffix}


def explode(row):
    if row["text"] == "boom":
        row["text"] = "mutated before raising"
        raise ValueError("cannot map boom")
    return {**row, "ok": True}


def as_list(row):
    return [row]


def drop_id(row):
    return {"text": row["text"]}


def verdict(row, max_chars=5):
    text = row["text"]
    if text == "boom":
        raise RuntimeError("bad row")
    if text == "no":
        return False
    if len(text) > max_chars:
        return "Too long!"
    if text == "dup":
        return "near_duplicate"
    return None if text == "a" else True


def mutate(row):
    row["text"] = "changed"
    return True


def one(row):
    return 1


NOT_CALLABLE = 3
'''

ROWS = [{"id": str(i), "text": t} for i, t in enumerate(["a", "hello", "boom", "no", "much too long", "dup"])]


@pytest.fixture
def fns(tmp_path, monkeypatch):
    name = f"mapfilter_{uuid.uuid4().hex[:12]}"
    (tmp_path / f"{name}.py").write_text(FUNCTIONS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def _stage(cls, tmp_path, **cfg):
    return cls(cls.Config(stage=cls.name, **cfg), StageContext(0, 0, tmp_path, tmp_path))


def _rejected(stage_dir):
    return list(rundir.iter_rows(stage_dir / "rejected"))  # unpacked: the row's columns + rejected_by/detail


def test_map_replaces_rows_and_passes_kwargs(fns, tmp_path):
    out = _stage(Map, tmp_path, function=f"{fns}:add_len", kwargs={"suffix": "x"}).process(ROWS[:2])
    assert out == [{"id": "0", "text": "a", "n": 1, "tag": "x"}, {"id": "1", "text": "hello", "n": 5, "tag": "x"}]


def test_map_exception_is_a_rejection_with_the_original_row(fns, tmp_path):
    pipe = Pipeline([{"stage": "map", "function": f"{fns}:explode"}], name="m", workdir=tmp_path / "runs")
    ds = pipe.run(dataset=ROWS)
    assert len(ds) == 5 and "2" not in ds["id"] and all(ds["ok"])
    [rej] = _rejected(pipe.run_dir / "00_map")
    assert rej["id"] == "2" and rej["text"] == "boom"  # fn got a copy; its mutation did not leak
    assert rej["rejected_by"] == "map:map_error" and rej["rejected_detail"] == "ValueError: cannot map boom"
    assert json.loads((pipe.run_dir / "00_map" / "stats.json").read_text())["dropped"] == {"map_error": 1}


@pytest.mark.parametrize("function, message", [
    ("as_list", r"map function .*:as_list returned a list for row '0'; it must return the new row, a dict"),
    ("drop_id", r"map function .*:drop_id changed the id of row '0' to None"),
])
def test_map_contract_violations_are_data_errors(fns, tmp_path, function, message):
    with pytest.raises(DataError, match=message):
        _stage(Map, tmp_path, function=f"{fns}:{function}").process(ROWS[:1])


def test_filter_keeps_drops_and_names_reasons(fns, tmp_path):
    pipe = Pipeline([{"stage": "filter", "function": f"{fns}:verdict", "kwargs": {"max_chars": 8}}],
                    name="f", workdir=tmp_path / "runs")
    assert pipe.run(dataset=ROWS)["text"] == ["a", "hello"]
    rejected = {r["id"]: r for r in _rejected(pipe.run_dir / "00_filter")}
    assert {k: r["rejected_by"] for k, r in rejected.items()} == {
        "2": "filter:filter_error", "3": "filter:filtered", "4": "filter:too_long", "5": "filter:near_duplicate"}
    assert rejected["2"]["rejected_detail"] == "RuntimeError: bad row"
    assert rejected["4"]["rejected_detail"] == "Too long!"  # the function's own words, kept as detail
    stats = json.loads((pipe.run_dir / "00_filter" / "stats.json").read_text())
    assert stats["rows_in"] == 6 and stats["kept"] == 2
    assert stats["dropped"] == {"filter_error": 1, "filtered": 1, "near_duplicate": 1, "too_long": 1}


def test_filter_cannot_change_kept_rows_and_refuses_ambiguous_answers(fns, tmp_path):
    assert _stage(Filter, tmp_path, function=f"{fns}:mutate").process(ROWS[:1]) == ROWS[:1]
    with pytest.raises(DataError, match=r"filter function .*:one returned 1 \(int\) for row '0'"):
        _stage(Filter, tmp_path, function=f"{fns}:one").process(ROWS[:1])


def test_filter_accepts_numpy_bools(fns, tmp_path):
    np = pytest.importorskip("numpy")
    stage = _stage(Filter, tmp_path, function=f"{fns}:verdict")
    assert stage._judge(ROWS[0], np.bool_(True)) == ROWS[0]
    assert stage._judge(ROWS[0], np.bool_(False)).reason == "filtered"


@pytest.mark.parametrize("stage", ["map", "filter"])
@pytest.mark.parametrize("function, message", [
    ("no_such_module_xyz:f", r"cannot import module 'no_such_module_xyz'.*No module named"),
    ("{fns}:missing", r"module '{fns}' has no attribute 'missing'"),
    ("{fns}:NOT_CALLABLE", r"'{fns}:NOT_CALLABLE' is not callable \(it is of type int\)"),
    ("{fns}", r"'{fns}' is not a reference: expected `module.path:Name`"),
])
def test_bad_function_fails_at_validate(fns, tmp_path, stage, function, message):
    raw = [{"stage": "map", "function": f"{fns}:add_len"}, {"stage": stage, "function": function.format(fns=fns)}]
    with pytest.raises(ConfigError, match=r"stages.1.function: " + message.format(fns=fns)):
        Pipeline(raw, workdir=tmp_path / "runs")


def test_function_source_enters_the_fingerprint(fns, tmp_path):
    a = _stage(Filter, tmp_path, function=f"{fns}:verdict").fingerprint_extra()
    b = _stage(Filter, tmp_path, function=f"{fns}:mutate").fingerprint_extra()
    assert a != b and a == _stage(Map, tmp_path, function=f"{fns}:verdict").fingerprint_extra()

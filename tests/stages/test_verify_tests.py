"""verify_tests: extraction, sandbox verdicts, reasons, min_pass_rate (programs run in the sandbox)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from synthkit.core.record import Rejected
from synthkit.core.registry import STAGES
from synthkit.core.stage import StageContext
from synthkit.stages.verify_tests import VerifyTests

FENCED = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```\nExample:\n```python\nprint(add(1, 2))\n```\n"
TESTS = "assert add(1, 2) == 3\nassert add(2, 2) == 4\nassert add(0, 0) == 0\n"


def make(tmp_path, **cfg):
    cfg = {"stage": "verify_tests", "timeout_s": 2.0, "workers": 2, **cfg}
    return VerifyTests(VerifyTests.Config(**cfg), StageContext(index=2, seed=0, stage_dir=tmp_path, base_dir=tmp_path))


def by_id(out):
    return {(r.row if isinstance(r, Rejected) else r)["id"]: r for r in out}


def test_keeps_passing_rows_and_gives_reasons(tmp_path):
    rows = [
        {"id": "ok", "response": FENCED, "tests": TESTS, "scores": {"judge": 7.0}},
        {"id": "wrong", "code": "def add(a, b):\n    return a * b\n", "tests": TESTS},
        {"id": "prose", "response": "I cannot solve this.", "tests": TESTS},
        {"id": "untested", "response": FENCED, "tests": ""},
        {"id": "slow", "code": "def add(a, b):\n    while True:\n        pass\n", "tests": TESTS},
        {"id": "io", "code": "a, b = map(int, input().split())\nprint(a + b)\n",
         "tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "5 5\n", "output": "10"}]},
        {"id": "check", "response": FENCED, "entry_point": "add",
         "tests": "def check(candidate):\n    assert candidate(2, 3) == 5\n"},
    ]
    stage = make(tmp_path)
    stage.setup()
    try:
        out = by_id(stage.process(rows))
    finally:
        stage.teardown()
    assert len(out) == len(rows)
    ok = out["ok"]
    assert not isinstance(ok, Rejected) and "print(" not in ok["code"]
    assert ok["verify"]["status"] == "passed" and ok["verify"]["pass_rate"] == 1.0 and ok["verify"]["passed"]
    assert ok["scores"] == {"judge": 7.0, "verify": 1.0} and ok["verify"]["duration_s"] > 0
    assert out["wrong"].reason == "failed" and out["wrong"].row["verify"]["pass_rate"] == pytest.approx(2 / 3)
    assert out["prose"].reason == "no_code" and out["untested"].reason == "no_tests"
    assert out["untested"].row["code"].startswith("def add")
    assert out["slow"].reason == "timeout" and "limit" in out["slow"].detail
    assert not isinstance(out["io"], Rejected) and not isinstance(out["check"], Rejected)


def test_min_pass_rate_keeps_partial_passes(tmp_path):
    row = {"id": "partial", "code": "def add(a, b):\n    return 3\n", "tests": TESTS}  # passes 1 of 3
    stage = make(tmp_path, min_pass_rate=0.3)
    try:
        kept = stage.process([row])[0]  # no setup(): process starts the sandbox itself
    finally:
        stage.teardown()
    assert not isinstance(kept, Rejected) and kept["verify"]["status"] == "failed"
    assert kept["verify"]["tests_passed"] == 1 and kept["verify"]["tests_total"] == 3
    assert stage._sandbox is None


def test_apps_style_tests_and_registry(tmp_path):
    stage = make(tmp_path, workers=1)
    try:
        row = {"id": "apps", "code": "print(int(input()) * 2)\n", "tests": {"inputs": ["2\n", "5\n"],
                                                                             "outputs": ["4\n", "11\n"]}}
        rej = stage.process([row])[0]
    finally:
        stage.teardown()
    assert isinstance(rej, Rejected) and rej.reason == "failed" and rej.row["verify"]["tests_total"] == 2
    assert STAGES.get("verify_tests") is VerifyTests


def test_config_is_strict():
    with pytest.raises(ValidationError):
        VerifyTests.Config(stage="verify_tests", timeout=3)
    with pytest.raises(ValidationError):
        VerifyTests.Config(stage="verify_tests", min_pass_rate=1.5)


def test_stats_record_the_isolation_the_sandbox_ran_with(tmp_path):
    """stats.json (and so report.json and the data card) says how the code was contained."""
    import json

    from synthkit.core.pipeline import Pipeline

    rows = [{"id": "ok", "code": "def add(a, b):\n    return a + b\n", "tests": TESTS}]
    Pipeline([{"stage": "verify_tests", "timeout_s": 2.0, "workers": 1}], name="v", workdir=tmp_path).run(dataset=rows)
    stats = json.loads((tmp_path / "v" / "00_verify_tests" / "stats.json").read_text())
    report = json.loads((tmp_path / "v" / "report.json").read_text())
    assert stats["sandbox"]["isolation"] in ("full", "basic") and report["stages"][0]["sandbox"] == stats["sandbox"]
    assert stats["sandbox"]["via"] in ("root", "userns", "bwrap", "none")
    assert stats["sandbox"]["memory_via"] in ("cgroup v1", "cgroup v2", "rlimit + seccomp", "rlimit")
    assert (stats["sandbox"]["isolation"] == "full") == (stats["sandbox"]["via"] != "none")

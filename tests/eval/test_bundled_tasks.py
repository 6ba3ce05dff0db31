"""The bundled task set: ids, tiers, splits, structure, and its tests against real code.

Code runs only in the sandbox: the reference solutions and the trivially wrong stubs
below are executed through ``synthkit.sandbox`` and nowhere else. Everything outside the
sandbox tests is static (JSON, ast).
"""
from __future__ import annotations

import ast
import importlib.util
import re
import sys
from collections import Counter

import pytest

from synthkit.data.bundled import FIELDS, SPLITS, TIERS, bundled_tasks_path, load_bundled
from synthkit.errors import ConfigError

ALL = load_bundled()
SANDBOX_KW = dict(workers=2, timeout_s=5.0, memory_mb=512)

# Bodies of trivially wrong solutions. Every task's tests must reject each of them:
# a constant or echo that slips through means the asserts are vacuous.
STUB_BODIES = {
    "none": "return None",
    "first_arg": "return a[0] if a else None",
    "zero": "return 0",
    "one": "return 1",
    "minus_one": "return -1",
    "true": "return True",
    "false": "return False",
    "empty_str": "return ''",
    "empty_list": "return []",
    "empty_dict": "return {}",
}


def _stub(entry_point: str, body: str) -> str:
    return f"def {entry_point}(*a, **k):\n    {body}\n"


def _load_build_script():
    path = bundled_tasks_path() / "build.py"
    spec = importlib.util.spec_from_file_location("synthkit_bundled_build", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)   # our own build script (static parsing only), not task code
    return module


# --- static checks -----------------------------------------------------------------------

def test_ids_are_unique_and_follow_the_scheme():
    ids = [t["task_id"] for t in ALL]
    assert len(ids) == len(set(ids))
    for t in ALL:
        assert re.fullmatch(rf"synthkit/{t['tier']}/\d{{3}}", t["task_id"]), t["task_id"]
    # entry points are unique too, so a task can be named by its function
    assert len({t["entry_point"] for t in ALL}) == len(ALL)


def test_every_tier_and_split_is_present_with_a_stratified_30_percent_test_split():
    assert len(ALL) >= 160
    by_tier = Counter(t["tier"] for t in ALL)
    assert set(by_tier) == set(TIERS) and min(by_tier.values()) >= 40
    for tier in TIERS:
        tasks = load_bundled(tier=tier)
        n_test = sum(t["split"] == "test" for t in tasks)
        assert n_test == round(0.3 * len(tasks)), (tier, n_test, len(tasks))
        assert {t["split"] for t in tasks} == set(SPLITS)


def test_filters_partition_the_set():
    train, test = load_bundled(split="train"), load_bundled(split="test")
    assert len(train) + len(test) == len(ALL)
    assert {t["task_id"] for t in train}.isdisjoint(t["task_id"] for t in test)
    hard_test = load_bundled(split="test", tier="hard")
    assert hard_test and all(t["tier"] == "hard" and t["split"] == "test" for t in hard_test)
    # documented order: easy, medium, hard, each by task_id
    assert [t["task_id"] for t in ALL] == sorted(
        (t["task_id"] for t in ALL), key=lambda i: (TIERS.index(i.split("/")[1]), i))


@pytest.mark.parametrize("kwargs, names", [
    ({"split": "dev"}, "train, test"),
    ({"tier": "expert"}, "easy, medium, hard"),
])
def test_bad_split_or_tier_names_the_choices(kwargs, names):
    with pytest.raises(ConfigError, match=names):
        load_bundled(**kwargs)


def test_returned_tasks_are_fresh_copies():
    first = load_bundled(tier="easy")
    first[0]["prompt"] = "changed"
    assert load_bundled(tier="easy")[0]["prompt"] != "changed"


def test_each_task_is_well_formed():
    stdlib = set(sys.stdlib_module_names)
    for t in ALL:
        tid, entry = t["task_id"], t["entry_point"]
        assert set(t) == set(FIELDS), tid
        assert t["canonical_solution"].startswith(t["prompt"]), tid
        fn = [n for n in ast.parse(t["prompt"]).body if isinstance(n, ast.FunctionDef)]
        assert [f.name for f in fn] == [entry], tid
        doc = ast.get_docstring(fn[0])
        assert doc and ">>>" in doc, f"{tid}: docstring needs examples"
        assert f"`{entry}(" in t["description"] and ">>>" not in t["description"], tid
        asserts = ast.parse(t["tests"]).body
        assert 4 <= len(asserts) <= 8 and all(isinstance(a, ast.Assert) for a in asserts), tid
        assert all(entry in {n.id for n in ast.walk(a) if isinstance(n, ast.Name)} for a in asserts), tid
        for node in ast.walk(ast.parse(t["canonical_solution"])):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                assert all(m.split(".")[0] in stdlib for m in mods), f"{tid}: non-stdlib import"


def test_committed_jsonl_matches_the_markdown_sources():
    build = _load_build_script()
    for name, content in build.build_all(bundled_tasks_path()).items():
        committed = (bundled_tasks_path() / name).read_text(encoding="utf-8")
        assert committed == content, f"{name} is stale: run python synthkit/data/tasks/build.py"


# --- in the sandbox ---------------------------------------------------------------------

def _run(programs):
    from synthkit.sandbox import Program, Sandbox

    with Sandbox(**SANDBOX_KW) as sb:
        return sb.run([Program(code=c, tests=t, entry_point=e) for c, t, e in programs])


def _references():
    return [(t["canonical_solution"], t["tests"], t["entry_point"]) for t in ALL]


def _run_stubs_with_controls(names):
    """Run every reference (the controls) and every task's tests against each named stub,
    in one sandbox run. Returns (control results, [(task_id, stub name, result)])."""
    cases = [(t, name) for t in ALL for name in names]
    stubs = [(_stub(t["entry_point"], STUB_BODIES[name]), t["tests"], t["entry_point"])
             for t, name in cases]
    results = _run(_references() + stubs)
    assert len(results) == len(ALL) + len(cases)
    outcomes = [(t["task_id"], name, r) for (t, name), r in zip(cases, results[len(ALL):])]
    return results[:len(ALL)], outcomes


def _accepted(controls, outcomes):
    """Stubs the tests failed to reject. Only meaningful when the controls all passed in
    the same run: then the sandbox demonstrably ran these tests, and a stub's failure is
    the tests' doing, not a sandbox that fails everything."""
    broken = [(t["task_id"], r.status, r.detail) for t, r in zip(ALL, controls) if not r.passed]
    assert not broken, f"references fail, so the stub results mean nothing: {broken[:3]}"
    return [(tid, name, r.status) for tid, name, r in outcomes
            if r.passed or r.status not in ("failed", "error")]


@pytest.fixture(scope="module")
def none_stub_run():
    return _run_stubs_with_controls(["none"])


def test_every_reference_solution_passes_its_tests_in_the_sandbox(none_stub_run):
    controls, _ = none_stub_run
    failed = [(t["task_id"], r.status, r.detail) for t, r in zip(ALL, controls) if not r.passed]
    assert not failed
    # each assert line ran as a test of its own
    assert [r.tests_total for r in controls] == [len(ast.parse(t["tests"]).body) for t in ALL]


def test_tests_reject_a_none_returning_stub_in_the_sandbox(none_stub_run):
    assert not _accepted(*none_stub_run)


@pytest.mark.slow
def test_tests_reject_every_trivial_stub_in_the_sandbox():
    assert not _accepted(*_run_stubs_with_controls([n for n in STUB_BODIES if n != "none"]))

"""The sandbox's contract: statuses, pass rates, io comparison, ordering, limits."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import pytest
from helpers.sandbox import TEST_BACKENDS, make_sandbox, require_full, run1, worker_pid

from synthkit.errors import ConfigError
from synthkit.sandbox import STATUSES, Program, Sandbox
from synthkit.sandbox.program import normalise_output

ADD = "def add(a, b):\n    return a + b\n"
SUM_IO = "a, b = map(int, input().split())\nprint(a + b)\n"


def test_each_assert_counts_and_a_failure_hides_none(sandbox):
    r = run1(sandbox, ADD, "assert add(1, 2) == 3\nassert add(2, 2) == 5\nassert add(0, 0) == 0\n")
    assert (r.status, r.passed, r.tests_passed, r.tests_total) == ("failed", False, 2, 3)
    assert r.pass_rate == pytest.approx(2 / 3) and "test 2 (line 2)" in r.detail and r.duration_s > 0
    ok = run1(sandbox, ADD, "assert add(1, 2) == 3\n")
    assert (ok.status, ok.passed, ok.pass_rate) == ("passed", True, 1.0)


def test_check_candidate_counts_each_assert(sandbox):
    tests = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(1, 1) == 3\n\ncheck(add)\n"
    r = run1(sandbox, ADD, tests, entry_point="add")
    assert (r.status, r.tests_passed, r.tests_total) == ("failed", 1, 2)


def test_io_cases_compare_after_trailing_whitespace(sandbox):
    io = [{"input": "1 2\n", "output": "3\n"}, {"input": "2 2", "output": "4"},
          {"input": "1 1\n", "output": "3"}]
    r = run1(sandbox, SUM_IO, io=io)
    assert (r.status, r.tests_passed, r.tests_total) == ("failed", 2, 3) and "case 3: wrong output" in r.detail
    spaced = run1(sandbox, "print('1 2   ')\nprint('3\\t')\nprint()\n", io=[{"input": "", "output": "1 2\n3"}])
    assert spaced.passed
    assert normalise_output("a \r\nb\t\n\n") == "a\nb" and normalise_output(" a") == " a"


def test_io_nonzero_exit_is_error_and_a_timeout_stops_the_cases(sandbox):
    assert run1(sandbox, "import sys\nprint(3)\nsys.exit(2)\n", io=[{"input": "", "output": "3"}]).status == "error"
    r = run1(sandbox, "while True:\n    pass\n", io=[{"input": "", "output": ""}] * 3)
    assert r.status == "timeout" and "2 cases not run" in r.detail and r.duration_s < 4


def test_errors_that_are_not_failures(sandbox):
    assert run1(sandbox, "def add(a, b)\n", "assert add(1, 2) == 3\n").status == "error"
    bad_tests = run1(sandbox, ADD, "assert (\n")
    assert bad_tests.status == "error" and "do not parse" in bad_tests.detail
    assert run1(sandbox, ADD).status == "error"  # no tests at all
    raised = run1(sandbox, ADD + "raise RuntimeError('boom')\n", "assert add(1, 2) == 3\n")
    assert raised.status == "error" and "boom" in raised.detail
    assert set(STATUSES) == {"passed", "failed", "error", "timeout", "memory", "killed"}


def test_any_exception_while_loading_means_no_test_runs(sandbox):
    r = run1(sandbox, ADD + "import sys\nsys.exit(0)\n", "assert add(1, 2) == 3\n")
    assert r.status == "error" and "SystemExit" in r.detail and r.tests_passed == 0


def test_memory_limit(sandbox):
    big = "x = bytearray(1 << 30)\n"
    assert run1(sandbox, big, io=[{"input": "", "output": ""}]).status == "memory"
    assert run1(sandbox, "def f():\n    return len(bytearray(1 << 30))\n", "assert f() > 0\n").status == "memory"


def test_output_is_captured_and_capped():
    with make_sandbox(workers=1, timeout_s=5.0, max_output_bytes=4096) as sb:
        r = run1(sb, "import sys\nprint('hello')\nprint('oops', file=sys.stderr)\n", "assert True\n")
        assert r.stdout == "hello\n" and "oops" in r.stderr
        flood = run1(sb, "import sys\nfor i in range(200000):\n    sys.stdout.write('x' * 100)\n", "assert True\n")
        assert flood.passed and len(flood.stdout) == 4096
        too_long = run1(sb, "print('x' * 10000)\n", io=[{"input": "", "output": "x" * 10000}])
        assert too_long.status == "failed" and "output limit" in too_long.detail


def test_results_keep_input_order_across_threads(sandbox):
    out = {}

    def worker(k):
        progs = [Program(code=f"def f():\n    return {k * 100 + i}\n", tests=f"assert f() == {k * 100 + i}\n")
                 for i in range(6)]
        out[k] = sandbox.run(progs)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.passed for k in range(3) for r in out[k]) and sum(len(v) for v in out.values()) == 18
    wrong = sandbox.run([Program(code="def f():\n    return 1\n", tests=f"assert f() == {i}\n") for i in range(4)])
    assert [r.passed for r in wrong] == [False, True, False, False]


def test_bad_config_fails_early():
    with pytest.raises(ConfigError, match="timeout_s"):
        Sandbox(timeout_s=0)
    with pytest.raises(ConfigError, match="isolation"):
        Sandbox(isolation="none")
    with pytest.raises(ConfigError, match="backends: expected a list of root, userns, bwrap"):
        Sandbox(backends=("root", "docker"))


def test_the_mechanism_used_is_reported_and_full_refuses_without_one(sandbox):
    assert (sandbox.isolation, sandbox.via) in {("full", "root"), ("full", "userns"), ("full", "bwrap"),
                                                ("basic", "none")}
    if os.geteuid() == 0 and "root" in TEST_BACKENDS:
        assert sandbox.via == "root"  # root gets a run uid of its own; the others share the caller's
    with Sandbox(workers=1, backends=()) as sb:  # nothing to try: basic, and it says so
        assert (sb.isolation, sb.via) == ("basic", "none")
        assert run1(sb, ADD, "assert add(1, 2) == 3\n").passed
    with pytest.raises(ConfigError, match="root, unprivileged user namespaces or bubblewrap"):
        Sandbox(workers=1, backends=(), isolation="full")
    if os.geteuid() != 0:  # an ordinary user: `root` is skipped with its reason, the next one is tried
        with Sandbox(workers=1, backends=("root",)) as sb:
            assert sb.via == "none" and "root: not running as root" in sb.isolation_reason


def test_malformed_io_cases_are_errors(sandbox):
    r = run1(sandbox, SUM_IO, io=[{"input": "1 2"}])
    assert r.status == "error" and "input" in r.detail


def test_basic_isolation_still_judges_and_cleans_up():
    before = set(os.listdir(tempfile.gettempdir()))
    with Sandbox(workers=1, timeout_s=1.0, isolation="basic") as sb:
        assert sb.isolation == "basic"
        assert run1(sb, ADD, "assert add(1, 2) == 3\n").passed
        assert not run1(sb, ADD.replace("+", "-") + "import os\nos._exit(0)\n", "assert add(1, 2) == 3\n").passed
        assert run1(sb, "while True:\n    pass\n", io=[{"input": "", "output": ""}]).status == "timeout"
        assert run1(sb, "open('x', 'w').write('1')\n", "assert open('x').read() == '1'\n").passed
    # only the sandbox's own run folders count: other processes (a parallel test run) share /tmp
    left = {n for n in set(os.listdir(tempfile.gettempdir())) - before if n.startswith("synthkit-")}
    assert left == set()


def test_close_leaves_no_process_behind():
    sb = make_sandbox(workers=2, timeout_s=2.0)
    require_full(sb)
    launchers = [w.proc.pid for w in sb._pool]
    workers = [worker_pid(p) for p in launchers]
    assert all(r.passed for r in sb.run([Program(code=ADD, tests="assert add(1, 2) == 3\n")] * 4))
    sb.close()
    sb.close()  # idempotent
    with pytest.raises(RuntimeError, match="after close"):
        sb.run([Program(code=ADD, tests="assert True\n")])
    assert not any(Path(f"/proc/{pid}").exists() for pid in launchers + workers)

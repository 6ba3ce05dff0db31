"""What goes into the sandbox (``Program``) and what comes out (``Result``).

Two kinds of tests:

- **assert style** (HumanEval/MBPP): ``tests`` is a block of Python, run after
  the program in the same process; see ``synthkit.sandbox.units`` for what
  counts as one test. ``entry_point`` names the function for
  ``check(candidate)`` blocks.
- **stdin/stdout** (APPS/CodeContests): ``io_tests`` (or ``tests`` given as a
  list) is a list of ``{"input": str, "output": str}``. The program runs once
  per case, in its own process, with the input on stdin; its stdout passes when
  it equals the expected output after trailing whitespace is stripped from each
  line and from the end. A non-zero exit fails the case. The expected outputs
  never leave the host process. After a case times out the remaining cases are
  not run (they count as not passed).

``Result.status`` is one of ``STATUSES``. A run with some tests passing and
several problems reports the worst, in the order
timeout > memory > killed > error > failed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from synthkit.sandbox.units import unit_sources

STATUSES = ("passed", "failed", "error", "timeout", "memory", "killed")
_SEVERITY = {s: i for i, s in enumerate(("passed", "failed", "error", "killed", "memory", "timeout"))}


@dataclass
class Program:
    """One program and its tests. Give ``tests`` (an assert block, or a list of
    io cases) or ``io_tests``."""

    code: str
    tests: str | list[dict[str, Any]] | None = None
    io_tests: list[dict[str, Any]] | None = None
    entry_point: str = ""


@dataclass
class Result:
    """The outcome of one program. ``pass_rate`` = tests_passed / tests_total."""

    status: str                # one of STATUSES
    passed: bool               # every test ran and held
    pass_rate: float           # 0.0 .. 1.0
    tests_passed: int
    tests_total: int
    duration_s: float          # wall clock of the run(s), seconds
    stdout: str = ""           # capped at the sandbox's max_output_bytes
    stderr: str = ""
    detail: str = ""           # why, for a human

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def error_result(detail: str) -> Result:
    return Result("error", False, 0.0, 0, 0, 0.0, detail=detail)


def prepare(program: Program, limits: dict) -> tuple[dict | None, list[str] | None, Result | None]:
    """(job for a worker, expected io outputs, None), or (None, None, Result) if it cannot run."""
    if not isinstance(program.code, str):
        return None, None, error_result(f"code must be a str, got {type(program.code).__name__}")
    cases = program.io_tests if program.io_tests is not None else (
        program.tests if isinstance(program.tests, list) else None)
    if cases is not None:
        try:
            inputs = [_checked_case_field(c, "input") for c in cases]
            outputs = [_checked_case_field(c, "output") for c in cases]
        except ValueError as e:
            return None, None, error_result(str(e))
        if not cases:
            return None, None, error_result("no tests: io_tests is empty")
        return {"mode": "io", "code": program.code, "inputs": inputs, "limits": limits}, outputs, None
    if not isinstance(program.tests, str) or not program.tests.strip():
        return None, None, error_result("no tests: give tests (an assert block) or io_tests")
    try:
        units = unit_sources(program.tests, program.entry_point or "")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        return None, None, error_result(f"the tests do not parse: {type(e).__name__}: {e}")
    job = {"mode": "assert", "code": program.code, "units": units, "entry_point": program.entry_point or "",
           "n_tests": sum(1 for _, is_test, _ in units if is_test), "limits": limits}
    return job, None, None


def _checked_case_field(case: Any, field: str) -> str:
    """One field of an io case as the program sees it; ValueError (the row's error) when malformed.
    (core.record.conform_row stores any shape leniently; this is the sandbox's strict check.)"""
    if not isinstance(case, dict) or field not in case:
        raise ValueError(f"io test case must be a dict with 'input' and 'output', got {str(case)[:80]!r}")
    value = case[field]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    if not isinstance(value, str):
        raise ValueError(f"io test case '{field}' must be a str (or a list of lines), got {type(value).__name__}")
    return value


def normalise_output(text: str) -> str:
    """Strip trailing whitespace from every line and from the end."""
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


def finish_assert(raw: dict) -> Result:
    n, k = int(raw["tests_total"]), int(raw["tests_passed"])
    return Result(raw["status"], raw["status"] == "passed", k / n if n else 0.0, k, n,
                  float(raw["duration_s"]), raw["stdout"], raw["stderr"], raw["detail"])


def finish_io(raw_cases: list[dict], expected: list[str]) -> Result:
    """Compare each case's stdout with its expected output (host side)."""
    statuses, whys = [], []
    for raw, want in zip(raw_cases, expected):
        status, why = _case_status(raw, want)
        statuses.append(status)
        whys.append(why)
    n, k = len(expected), statuses.count("passed")
    worst = max(statuses + ["failed"] * (n - len(statuses)), key=_SEVERITY.__getitem__) if k < n else "passed"
    bad = next((i for i, s in enumerate(statuses) if s != "passed"), None)
    shown = raw_cases[bad if bad is not None else -1]
    detail = f"{k}/{n} cases passed"
    if bad is not None:
        detail += f"; case {bad + 1}: {whys[bad]}"
    if len(statuses) < n:
        detail += f"; {n - len(statuses)} cases not run after a timeout"
    return Result(worst, k == n, k / n, k, n, round(sum(r["duration_s"] for r in raw_cases), 6),
                  shown["stdout"], shown["stderr"], detail)


def _case_status(raw: dict, want: str) -> tuple[str, str]:
    if raw["timed_out"]:
        return "timeout", "CPU time limit" if raw["cpu_limit"] else "wall clock limit"
    if any(line == "M" or line.startswith("M ") for line in raw["report"].splitlines()):
        return "memory", "MemoryError"
    if raw.get("oom"):
        return "memory", "memory limit reached (killed by the memory cgroup)"
    if raw.get("inodes"):
        return "memory", "too many files and folders in its tmpfs folders"
    if raw["signal"]:
        return "killed", f"killed by signal {raw['signal']}"
    if raw["exit_code"] != 0:
        last = raw["stderr"].strip().splitlines()[-1:] or [""]
        return "error", f"exit code {raw['exit_code']} {last[0][:200]}".strip()
    if raw["stdout_dropped"]:
        return "failed", "output limit exceeded"
    if normalise_output(raw["stdout"]) != normalise_output(want):
        return "failed", "wrong output"
    return "passed", ""

"""Run untrusted (model-written) programs against their tests, in isolation.

    from synthkit.sandbox import Sandbox, Program
    with Sandbox(workers=2, timeout_s=5.0, memory_mb=512) as sb:
        results = sb.run([Program(code=src, tests="assert f(1) == 2\\n"),
                          Program(code=src, io_tests=[{"input": "1 2\\n", "output": "3\\n"}])])
    results[0].passed, results[0].status, results[0].pass_rate, results[0].duration_s

``status`` is one of passed, failed, error, timeout, memory, killed. Guarantees
(full isolation): a pass only from the test frame's own appended pass call, a
view holding only the interpreter and the standard library, memory bounded by a
cgroup or by rlimits + seccomp (``Sandbox.memory_via``), nothing left between
runs, no network, no capabilities, no nested user namespace. What it does NOT
protect against, the mechanisms (``Sandbox.via``: root, userns, bwrap) and the
argument for each guarantee: docs/sandbox.md. One adversarial test per property
in tests/sandbox, run as root and as an ordinary user.
"""

from typing import TYPE_CHECKING

__all__ = ["STATUSES", "Program", "Result", "Sandbox"]
_HOMES = {"Sandbox": "synthkit.sandbox.pool", "Program": "synthkit.sandbox.program",
          "Result": "synthkit.sandbox.program", "STATUSES": "synthkit.sandbox.program"}

if TYPE_CHECKING:
    from synthkit.sandbox.pool import Sandbox
    from synthkit.sandbox.program import STATUSES, Program, Result


def __getattr__(name: str):
    """The names above load on first use: a worker imports ``synthkit.sandbox.inside.worker``
    and must not load the host side (threading, logging, subprocess: every module
    it holds costs each fork, and some run code after every fork)."""
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'synthkit.sandbox' has no attribute {name!r}")

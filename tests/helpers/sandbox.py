"""Helpers for the sandbox tests (``from helpers.sandbox import ...``).

The suite runs under whichever mechanism gives full isolation here (``root``
as root). ``test_unprivileged.py`` runs it again as an ordinary user (the
``userns`` and ``bwrap`` mechanisms) through two environment variables read
here: ``SYNTHKIT_TEST_SANDBOX_BACKENDS`` (comma-separated, the mechanisms the
sandboxes may use) and ``SYNTHKIT_TEST_SANDBOX_REQUIRE`` (the one they must
use: the full-isolation tests then fail instead of skipping without it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from synthkit.sandbox import Program, Sandbox
from synthkit.sandbox.pool import BACKENDS

TEST_BACKENDS = tuple(b for b in os.environ.get("SYNTHKIT_TEST_SANDBOX_BACKENDS", ",".join(BACKENDS)).split(",") if b)
REQUIRED = os.environ.get("SYNTHKIT_TEST_SANDBOX_REQUIRE", "")


def make_sandbox(**kwargs) -> Sandbox:
    """A Sandbox limited to the mechanisms under test."""
    return Sandbox(backends=TEST_BACKENDS, **kwargs)


def require_full(sb: Sandbox) -> None:
    """Skip (or, when a mechanism is required, fail) unless ``sb`` has full isolation."""
    if REQUIRED:
        assert sb.via == REQUIRED, f"expected the {REQUIRED} mechanism, got {sb.via} ({sb.isolation_reason})"
    elif sb.isolation != "full":
        pytest.skip(f"full isolation is not available here ({sb.isolation_reason}); CI runs as root")


def run1(sb: Sandbox, code: str, tests=None, io=None, entry_point: str = ""):
    return sb.run([Program(code=code, tests=tests, io_tests=io, entry_point=entry_point)])[0]


def pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def worker_pid(launcher: int) -> int | None:
    """The worker under a launcher: its first descendant in another PID namespace."""
    home, todo = pid_namespace(launcher), [launcher]
    while todo:
        pid = todo.pop(0)
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            if pid_namespace(child) not in (None, home):
                return child
            todo.append(child)
    return None


def run_namespaces(*sandboxes: Sandbox) -> set[str]:
    """The PID namespaces the workers of these sandboxes run their programs in."""
    workers = [worker_pid(w.proc.pid) for sb in sandboxes for w in sb._pool]
    return {ns for ns in map(pid_namespace, filter(None, workers)) if ns}


def sandbox_processes(*sandboxes: Sandbox, namespaces: set[str] | None = None) -> list[int]:
    """Host pids of the processes the programs of these sandboxes left running:
    everything in their workers' PID namespaces but the workers themselves
    (other sandboxes on the machine may be busy at the same time)."""
    namespaces = run_namespaces(*sandboxes) if namespaces is None else namespaces
    workers = {worker_pid(w.proc.pid) for sb in sandboxes for w in sb._pool}
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) not in workers and pid_namespace(int(entry.name)) in namespaces:
            found.append(int(entry.name))
    return found


# --- running tests as an ordinary user (the set-up of test_unprivileged.py) ------------------

_AS_USER = r"""
import json, os, sys
spec = json.loads(sys.argv[1])
sys.path.insert(0, spec["root"])
from synthkit.sandbox.isolation import launcher as I
# a private mount namespace where what the user needs is reachable: every directory
# the user cannot enter above it (root's home, say) is covered with a tmpfs that
# holds only those paths; nothing on the machine changes, no permission included
I._unshare(I.CLONE_NEWNS)
I._mount("none", "/", None, I.MS_REC | I.MS_PRIVATE)
needed = I._minimal([os.path.realpath(p) for p in spec["needed"] if os.path.exists(p)])
tops = [(t, I._clone([p for p in needed if I._under(p, t)])) for t in I._minimal(I._closed_ancestors(needed))]
for top, clones in tops:
    I._cover(top, clones)
os.setgroups([])
os.setresgid(spec["gid"], spec["gid"], spec["gid"])
os.setresuid(spec["uid"], spec["uid"], spec["uid"])
os.chdir(spec["cwd"])
os.execve(spec["argv"][0], spec["argv"], spec["env"])
"""


def as_user(uid: int, gid: int, argv: list[str], env: dict, needed: list[str], cwd: str, timeout: float):
    """Run ``argv`` as ``uid``/``gid`` (from root), with ``needed`` paths reachable."""
    import subprocess
    import sys

    root = str(Path(__file__).resolve().parents[2])
    spec = {"uid": uid, "gid": gid, "argv": argv, "env": env, "cwd": cwd, "root": root,
            "needed": [sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)),
                       root, cwd, *needed, *[p for p in sys.path if p]]}
    return subprocess.run([sys.executable, "-c", _AS_USER, __import__("json").dumps(spec)], capture_output=True,
                          text=True, timeout=timeout, check=False)

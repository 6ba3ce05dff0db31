"""SIGKILL a pipeline run in the middle: the shared start of the resume tests.

``kill_mid_run(args, log, progress, pattern, at_least)`` starts ``args`` (a
script that drives a run) with its output in ``log``, waits until the folder
``progress`` holds ``at_least`` files matching ``pattern`` (jobs written, chain
steps saved), SIGKILLs it, and returns the name -> mtime_ns of those files, so
the test can check that a resumed run leaves them untouched. The run exiting
before that fails the test with the log's tail; each test asserts itself that
the kill landed where it needs it (a count below the total).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def kill_mid_run(args: list[str], log: Path, progress: Path, pattern: str, at_least: int, *, env: dict | None = None,
                 cwd: Path | None = None, timeout_s: float = 120, poll_s: float = 0.02) -> dict[str, int]:
    with log.open("w") as out:
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and proc.poll() is None and len(list(progress.glob(pattern))) < at_least:
            time.sleep(poll_s)
        assert proc.poll() is None, log.read_text()[-3000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return {p.name: p.stat().st_mtime_ns for p in progress.glob(pattern)}

"""`synthkit view` in a subprocess for the viewer tests: start it on a free port, wait, stop it."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_viewer(run_dir: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    """`synthkit view RUN_DIR --port 0` in a subprocess; returns it and the URL it printed."""
    proc = subprocess.Popen([sys.executable, "-m", "synthkit.cli", "view", str(run_dir), "--port", "0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline, lines = time.time() + 60, []
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"open (http://\S+)/", line)
        if m:
            return proc, _wait_ready(proc, m.group(1))
    proc.kill()
    raise AssertionError(f"synthkit view printed no URL: {''.join(lines)} {proc.stderr.read()}")


def _wait_ready(proc: subprocess.Popen, base: str) -> str:
    import httpx

    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"synthkit view exited: {proc.stderr.read()}")
        try:
            if httpx.get(base + "/static/viewer.css", timeout=2).status_code == 200:
                return base
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("synthkit view did not answer within 30 s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

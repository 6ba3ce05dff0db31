"""Provenance, recorded when the data is made: what made it, and how.

``provenance(seed)`` is called by ``save`` while it writes the dataset and is
stored in the folder's ``report.json``; the card shows that record and never
looks again, so re-rendering a card later (``synthkit card``) or on another
machine does not rewrite history. Limits: the git revision is that of the
synthkit source tree (None for an installed wheel), ``git_dirty`` says whether
that tree had uncommitted changes, and ``command`` is this process's
``sys.argv`` (for the Python API, the script or test runner that called it).
"""

from __future__ import annotations

import datetime as _dt
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("synthkit", "datasets", "huggingface_hub", "pyarrow", "transformers", "torch", "trl", "peft",
            "accelerate", "vllm", "matplotlib")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the data (missing ones left out)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _git(*args: str) -> str | None:
    try:
        res = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def git_revision() -> str | None:
    """The commit of the synthkit source tree, or None outside a git checkout."""
    return _git("rev-parse", "HEAD") or None


def command(argv: list[str] | None = None) -> str:
    """The command line that ran, as one shell-quoted string."""
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return ""
    prog = Path(argv[0]).name
    if argv[0] == "-c":
        prog = "python -c"
    elif prog in ("synthkit", "cli.py", "__main__.py") or prog.startswith("synthkit"):
        prog = "synthkit"
    elif prog.endswith(".py"):
        prog = f"python {argv[0]}"
    return " ".join([prog, shlex.join(argv[1:])]).strip()


def provenance(seed: int | None = None) -> dict[str, Any]:
    rev = git_revision()
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no")) if rev else None
    versions = package_versions()
    return {"synthkit": versions.get("synthkit"), "git_revision": rev, "git_dirty": dirty,
            "created_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "python": platform.python_version(), "platform": platform.platform(terse=True),
            "packages": versions, "seed": seed, "command": command()}

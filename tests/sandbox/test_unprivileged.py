"""The sandbox suite again, as an ordinary user: full isolation without root.

Run as root (CI), this creates an unprivileged user (``synthkit-sbx``, a system
account without a home) and runs ``test_adversarial.py`` and
``test_sandbox.py`` as that user, once per mechanism an ordinary user can
have: ``userns`` (unprivileged user namespaces) and ``bwrap`` (bubblewrap,
when installed). The child run requires the mechanism, so every
full-isolation property must hold under it (a missing mechanism fails there
instead of skipping). Where the mechanism is not available to ordinary users
on this machine, the test says so and skips.

The interpreter may live where the user cannot go (root's home): the child
starts in a private mount namespace where only what it needs is made
reachable (``helpers.sandbox.as_user``); nothing on the machine is chmod-ed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from helpers.sandbox import as_user

USER = "synthkit-sbx"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SUITE = ["tests/sandbox/test_adversarial.py", "tests/sandbox/test_forged_passes.py", "tests/sandbox/test_resources.py",
         "tests/sandbox/test_sandbox.py"]
PROBE = ("import sys; sys.path.insert(0, {root!r}); from synthkit.sandbox import Sandbox\n"
         "sb = Sandbox(workers=1, backends=({backend!r},))\nprint('via=' + sb.via, sb.isolation_reason, sep='\\t')\n"
         "sb.close()\n")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates an unprivileged user to run as, which needs "
                                "root (CI runs as root)")


@pytest.fixture(scope="module")
def user():
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        done = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"could not create the user {USER}: {done.stderr.strip() or 'useradd failed'}")
        entry = pwd.getpwnam(USER)
    return entry.pw_uid, entry.pw_gid


@pytest.fixture
def workdir(user):
    """A folder the user owns, outside the directories the sandbox hides (so the
    suite's probes are visible to the programs it runs)."""
    path = Path(tempfile.mkdtemp(prefix=".unprivileged-", dir=HERE))
    os.chown(path, *user)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _env(workdir: Path, **extra: str) -> dict:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(workdir),
            "PYTHONDONTWRITEBYTECODE": "1", **extra}


@pytest.mark.parametrize("backend", ["userns", "bwrap"])
def test_sandbox_suite_as_an_unprivileged_user(backend, user, workdir):
    if backend == "bwrap" and shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")
    uid, gid = user
    probe = as_user(uid, gid, [sys.executable, "-c", PROBE.format(root=str(ROOT), backend=backend)],
                    _env(workdir), [], str(workdir), timeout=120)
    assert probe.returncode == 0, probe.stderr[-3000:]
    via, _, reason = next(x for x in probe.stdout.splitlines() if x.startswith("via="))[4:].partition("\t")
    if via != backend:
        pytest.skip(f"{backend} is not available to ordinary users here: {reason}")
    run = as_user(uid, gid, [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                             f"--basetemp={workdir / 'pytest'}", f"--rootdir={ROOT}", *SUITE],
                  _env(workdir, SYNTHKIT_TEST_SANDBOX_BACKENDS=backend, SYNTHKIT_TEST_SANDBOX_REQUIRE=backend),
                  [], str(ROOT), timeout=900)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    print(f"\n[unprivileged {backend}] {summary}")
    assert run.returncode == 0 and "passed" in summary, run.stdout[-6000:] + run.stderr[-3000:]
    assert "skipped" not in summary and "failed" not in summary, run.stdout[-6000:]

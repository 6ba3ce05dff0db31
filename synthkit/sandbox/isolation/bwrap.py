"""The ``bwrap`` (bubblewrap) mechanism: the same view, built by bubblewrap.

For hosts where the kernel refuses user namespaces to ordinary users but lets
``bwrap`` make them (installed setuid, or allowed by an AppArmor profile).
``command(cfg, argv)`` returns the ``bwrap`` command line that starts the
worker, after a probe run showed that bwrap works here; it raises OSError
(with bwrap's own message) otherwise, and the launcher falls back to basic.

bwrap builds everything before the worker starts, so nothing is left for the
launcher's ``finish``: new user (where bwrap can make one; nested ones are
then disabled), PID (the worker is PID 1: ``--as-pid-1``), network, IPC, UTS
and cgroup namespaces; ``/`` bound read-only and nosuid, a fresh minimal
``/dev``, the hidden directories covered with read-only tmpfs and the needed
ones bound back, size-limited tmpfs for the working directory and
``/dev/shm``, the ctypes and test-only extension modules masked with
``/dev/null``, every capability dropped, the worker killed with its parent.
The worker is started through an execute-only copy of the dynamic loader
(``--perms 0111 --ro-bind-data``), which makes it and its runs non-dumpable.

Differences from ``root``/``userns`` (see ``synthkit.sandbox``): SysV IPC and
POSIX message queues are private to the worker's IPC namespace but not
switched off (nothing can lower their limits from inside bwrap); with a
setuid bwrap that makes no user namespace, the process cap is not applied,
since the run's uid is the caller's on the host.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

from synthkit.sandbox.isolation.view import _exec_only_loader, masked_files, view_plan

PROBE_TIMEOUT_S = 20.0
INODES = 16384  # files and folders a run may make in its two tmpfs folders (root/userns: nr_inodes)
_NAMESPACES = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]


def command(cfg: dict, argv: list[str]) -> tuple[list[str], list[int]]:
    """(command line, file descriptors it needs); updates ``cfg`` for the worker."""
    if os.geteuid() == 0:  # its programs would run as host root (without capabilities): use `root`
        raise OSError(0, "not for root (runs would keep root's uid)")
    bwrap = shutil.which("bwrap", path="/usr/local/bin:/usr/bin:/bin")
    if bwrap is None:
        raise OSError(0, "bwrap is not installed")
    setuid = bool(os.stat(bwrap).st_mode & stat.S_ISUID)
    user = ["--unshare-user-try"] if setuid else ["--unshare-user", "--disable-userns"]
    base = [bwrap, *user, *_NAMESPACES, "--die-with-parent", "--as-pid-1", "--new-session",
            "--cap-drop", "ALL", "--ro-bind", "/", "/", "--dev", "/dev"]
    _probe(base + ["--", os.path.realpath(sys.executable), "-I", "-S", "-c", "pass"])
    needed, covers, workdir = view_plan(cfg["needed"])
    size = str(int(cfg["max_file_mb"]) << 20)
    args, tops = [], [top for top, _ in covers]
    for top, keep in covers:
        args += ["--tmpfs", top] + [a for p in keep for a in ("--ro-bind", p, p)]
    args += ["--size", size, "--perms", "1777" if setuid else "0700", "--tmpfs", workdir,
             "--size", size, "--perms", "1777", "--tmpfs", "/dev/shm"]
    args += [a for f in masked_files() for a in ("--ro-bind", "/dev/null", f)]
    filt = bytes.fromhex(cfg.pop("seccomp_filter", ""))
    keep = []
    if filt:  # bwrap loads it (with no_new_privs) just before it execs the worker
        keep.append(_data_fd("synthkit-seccomp", filt))
        args += ["--seccomp", str(keep[-1])]
    cfg["seccomp"] = "on" if filt else f"none: no filter for {os.uname().machine}"
    loader = _exec_only_loader()
    if len(loader) == 1:  # bwrap has no way to give it the interpreter's path as argv[0]
        raise OSError(0, "bwrap: the interpreter is statically linked (no loader to start it through)")
    dest = ("/run" if "/run" in tops else tops[0]) + "/.exec-only-loader"
    args += ["--perms", "0111", "--ro-bind-data", str(loader[0]), dest]
    args += [a for top in tops for a in ("--remount-ro", top)] + ["--chdir", "/"]
    cfg.pop("uid", None)  # the run's uid is the worker's: no other exists in bwrap's namespace
    # bwrap mounts tmpfs without an inode limit: the worker counts them instead (nr_inodes under root/userns)
    cfg.update(workdir=workdir, nproc=not setuid, inode_cap=INODES)
    return base + args + ["--", dest, *argv], [loader[0], *keep]


def _data_fd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _probe(cmd: list[str]) -> None:
    """Run bwrap once with the namespaces it will be asked for; OSError if it fails."""
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=PROBE_TIMEOUT_S, close_fds=True, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise OSError(0, f"bwrap did not run ({e})") from None
    if done.returncode != 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise OSError(0, f"bwrap refused: {last}")

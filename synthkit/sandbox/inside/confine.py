"""Per-run confinement, in the forked child, before any program code runs.

Pure ``os``/``resource`` calls (no ctypes: see ``launcher``). The namespaces
and mounts are already there, set up once per worker; this adds what is per
process: a new session, the working directory, rlimits, and (when the
worker is root) the drop to the worker's run uid with no supplementary groups.
Leaving root clears every capability and, with ``fs.suid_dumpable`` at 0 or
2, makes the process non-dumpable: the program's other processes, although
they share its uid, can neither ptrace it nor read its memory. (Under
``userns`` and ``bwrap`` the worker already has no capability and is
non-dumpable, and this process inherits both: see ``launcher``.)

The process cap (``RLIMIT_NPROC``) counts the processes of a uid; it is set
only where that uid is the run's own: the run uid (root), or the caller's
uid inside the worker's own user namespace (``cfg["nproc"]``).
"""

from __future__ import annotations

import os
import resource

MB = 1024 * 1024


def enter_run(cfg: dict, limits: dict, workdir: str) -> None:
    """Confine the calling process for one run. Raises OSError on failure."""
    os.setsid()
    os.chdir(workdir)
    uid = cfg.get("uid")  # set whenever the worker is root, full isolation or not
    pairs = [(resource.RLIMIT_AS, address_space_mb(cfg, limits) * MB),
             (resource.RLIMIT_CPU, int(limits["cpu_s"])),  # soft == hard: SIGKILL at the limit
             (resource.RLIMIT_FSIZE, int(limits["max_file_mb"]) * MB),
             (resource.RLIMIT_NOFILE, int(limits["max_open_files"])),
             (resource.RLIMIT_CORE, 0)]
    if uid is not None or cfg.get("nproc"):  # per uid: only where it counts this worker's processes alone
        pairs.append((resource.RLIMIT_NPROC, int(limits["max_processes"])))
    for which, value in pairs:
        resource.setrlimit(which, (value, value))
    if uid is not None:
        uid = int(uid)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    if not cfg.get("env_ready"):
        set_env(workdir)


def address_space_mb(cfg: dict, limits: dict) -> int:
    """``memory_mb``, less the two tmpfs folders' caps where no memory cgroup
    counts them (files there are memory no rlimit sees)."""
    memory = int(limits["memory_mb"])
    if cfg.get("isolation") == "full" and not str(cfg.get("memory_via", "")).startswith("cgroup"):
        memory -= 2 * int(cfg["max_file_mb"])
    return memory


def set_env(workdir: str) -> None:
    """The run's whole environment. Under full isolation the working directory
    never changes, so the worker sets it once for all its runs (``env_ready``):
    rewriting ``os.environ`` is Python-level work, and every page a run
    touches is a copy-on-write fault."""
    os.environ.clear()
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
                       "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"})

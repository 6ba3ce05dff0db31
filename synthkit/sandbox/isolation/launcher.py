"""Namespaces and mounts for one worker (Linux). Uses ctypes, so it runs only
in the launcher, never in the worker itself: a worker that had loaded
``_ctypes`` would hand every program raw memory access (CPython re-creates a
loaded extension module from its cache, unaudited).

``launch_main`` (the process the host starts) tries the containment
mechanisms the host lists (``pool.BACKENDS`` by default) in order and uses the
first that works:

- ``root``: the launcher is root. It enters a new mount, network and IPC
  namespace, builds the file-system view, makes itself the parent of a new
  PID namespace and ``exec``s the worker as its PID 1. Runs take a uid of
  their own (``UID_BASE`` + launcher pid).
- ``userns``: anyone, where the kernel allows unprivileged user namespaces.
  The same, inside a new user namespace that maps the caller to root (probed
  first in a throw-away child, so a refusal leaves the launcher untouched).
  One uid is all such a namespace can map, so the runs share the worker's;
  what the run uid gave under ``root`` comes from elsewhere: the worker is
  ``exec``ed with no capabilities (bounding set emptied, ``SECBIT_NOROOT``
  locked: no ``exec`` gives them back) through an execute-only copy of the
  dynamic loader, which makes it and every run it forks non-dumpable
  (``ptrace`` and ``/proc/<pid>/mem`` refused to the program's processes); no
  nested user namespace can be made; the process cap counts this namespace
  only.
- ``bwrap``: ``bubblewrap``, where it is installed (``bwrap``), for hosts
  whose kernel refuses user namespaces to ordinary users but lets ``bwrap``
  make them (setuid, or an AppArmor profile).

The view (``root`` and ``userns``; ``bwrap`` builds the same with its options):

- /root, /home, /run, /mnt, /media, /srv, /var/tmp, /proc and every directory
  that other users cannot enter are covered with empty tmpfs; the directories
  Python needs (its prefix, sys.path) are bound back in.
- The working directory (/tmp) and /dev/shm are tmpfs owned by the run uid,
  size-limited, nosuid, nodev, noexec; the worker empties them after each run.
- SysV IPC and POSIX message queues are disabled (limits of 0 in the new IPC
  namespace), so nothing persists there between runs.
- The network namespace is empty: its loopback is down, every connect fails.

``finish`` runs in the launcher once the worker has imported what it preloads
(the worker asks over a pipe): it masks the standard library's ctypes and
test-only extension modules with /dev/null (no program can load them) and
makes the whole tree read-only and nosuid, except the two tmpfs. (Which
native modules a program may load is the audit hook's rule: see
``harness._forbidden``.)

When no mechanism works, the launcher ``exec``s the worker in ``basic`` mode
and says why, one reason per mechanism.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

from synthkit.sandbox import wire
from synthkit.sandbox.isolation import cgroup, seccomp
from synthkit.sandbox.isolation.view import (  # noqa: F401
    HIDDEN,
    _closed_ancestors,
    _exec_only_loader,
    _minimal,
    _read,
    _under,
    interpreter_paths,
    masked_files,
    view_plan,
    worker_paths,
    worker_sources,
)

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 0x4000, 1 << 18
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
OPEN_TREE_CLONE, MOVE_MOUNT_F_EMPTY_PATH = 1, 4
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID = 1, 2
SYS_OPEN_TREE, SYS_MOVE_MOUNT, SYS_MOUNT_SETATTR = 428, 429, 442  # same on x86_64 and arm64
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_CAP_AMBIENT = 1, 24, 28, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
# NOROOT, NO_SETUID_FIXUP, KEEP_CAPS and NO_CAP_AMBIENT_RAISE, each with its lock bit
SECUREBITS_LOCKED = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80
UID_BASE = 1_000_000_000  # + launcher pid: a uid no real account uses, one per live worker
TMPFS = MS_NOSUID | MS_NODEV | MS_NOEXEC
IPC_OFF = {"kernel/shmmni": "0", "kernel/shmall": "0", "kernel/msgmni": "0", "kernel/sem": "0 0 0 0",
           "fs/mqueue/queues_max": "0"}
USERNS_OFF = {"user/max_user_namespaces": "0"}  # userns: programs make no namespace of their own

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.syscall.restype = ctypes.c_long


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _check(ret: int, what: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def _unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def _mount(src: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(src.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                       data.encode() if data else None), f"mount {target}")


def _set_attr(path: str, attr_set: int, attr_clr: int = 0) -> None:
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    _check(_libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), AT_RECURSIVE, ctypes.byref(attr),
                         ctypes.sizeof(attr)), f"mount_setattr {path}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


# --- the launcher ------------------------------------------------------------------------------

def launch_main(worker_boot: str) -> None:
    """Entry point of the process the host starts; never returns."""
    cfg = wire.recv(0)
    if cfg is None:
        os._exit(0)
    if os.geteuid() == 0:  # in basic mode too: programs never run as root
        cfg["uid"] = UID_BASE + os.getpid()
    cfg["needed"] = interpreter_paths(cfg.get("preload", []))
    cfg["sys_path"], cfg["modules"] = worker_paths(cfg["needed"]), worker_sources()
    argv = [os.path.realpath(sys.executable), "-I", "-S", "-c", worker_boot]
    cfg["seccomp_filter"] = (b"" if "seccomp" in cfg.get("without", ()) else seccomp.build() or b"").hex()
    memcg = _memory_cgroup(cfg)
    reasons, via = [], "none"
    for backend in [] if cfg.get("force_basic") else cfg.get("backends", ()):
        try:
            if backend == "bwrap":
                from synthkit.sandbox.isolation import bwrap

                command, keep_fds = bwrap.command(cfg, argv)
                cfg.update(isolation="full", via="bwrap", reason="; ".join(reasons))
                for fd in keep_fds:
                    os.set_inheritable(fd, True)
                os.execv(command[0], command + [json.dumps(cfg)])
            cfg.update(_enter(backend, cfg))
            via = backend
            break
        except OSError as e:
            reasons.append(f"{backend}: {e.strerror or e}")
    if via == "userns":
        cfg.pop("uid", None)  # one uid is all the namespace maps: the worker's
    cfg.update(isolation="full" if via != "none" else "basic", via=via,
               reason="basic isolation requested" if cfg.get("force_basic") else "; ".join(reasons))
    if via == "none":
        _apply_seccomp(cfg)
        os.execv(argv[0], argv + [json.dumps(cfg)])
    _start_worker(cfg, argv, userns=via == "userns", memcg=memcg)


def _memory_cgroup(cfg: dict):
    """The worker's memory cgroup (``cgroup``), or None: then memory is bounded by
    rlimits with the tmpfs caps counted in, and seccomp (``memory_via`` says which)."""
    if cfg.get("force_basic") or "cgroup" in cfg.get("without", ()):
        cfg["memory_via"] = "rlimit"
        return None
    try:
        memcg = cgroup.open_cgroup()
    except OSError as e:
        cfg.update(memory_via="rlimit + seccomp", memory_reason=e.strerror or str(e))
        return None
    cfg.update(memory_via=memcg.via, oom_fd=memcg.events_fd())
    return memcg


def _apply_seccomp(cfg: dict) -> None:
    """Load the filter (``seccomp``) on this process before it ``exec``s the worker;
    ``cfg["seccomp"]`` says whether it holds, for the worker's hello."""
    filt = bytes.fromhex(cfg.pop("seccomp_filter", ""))
    if not filt:
        cfg["seccomp"] = f"none: no filter for {os.uname().machine}"
        return
    try:
        seccomp.load(filt)
        cfg["seccomp"] = "on"
    except OSError as e:
        cfg["seccomp"] = f"none: {e.strerror or e}"


def _enter(backend: str, cfg: dict) -> dict:
    """Namespaces and mounts for ``root`` or ``userns``; raises OSError when refused."""
    if backend == "root":
        if os.geteuid() != 0:
            raise OSError(0, "not running as root")
        return _enter_namespaces(cfg, userns=False)
    if backend != "userns":
        raise OSError(0, f"unknown mechanism {backend!r}")
    if _read("/proc/sys/vm/memfd_noexec") == "2":
        raise OSError(0, "vm.memfd_noexec=2 forbids the execute-only loader copy")
    _probe(lambda: _enter_userns(*_userns_ids(cfg), probe=True))
    return _enter_namespaces(cfg, userns=True)


def _userns_ids(cfg: dict) -> tuple[int, int]:
    """The host uid and gid root inside the user namespace maps to: the caller's,
    or for root a run uid of its own (host root is exempt from the process cap)."""
    return (cfg["uid"], cfg["uid"]) if os.geteuid() == 0 else (os.geteuid(), os.getegid())


def _probe(attempt) -> None:
    """Run ``attempt`` in a throw-away child; raise its OSError here if it failed."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            attempt()
            os.write(w, b"ok")
        except BaseException as e:
            os.write(w, str(getattr(e, "strerror", None) or e).encode()[:500])
        os._exit(0)
    os.close(w)
    answer = b""
    while chunk := os.read(r, 512):
        answer += chunk
    os.close(r)
    os.waitpid(pid, 0)
    if answer != b"ok":
        raise OSError(0, answer.decode(errors="replace") or "the probe died")


def _enter_userns(uid: int, gid: int, probe: bool = False) -> None:
    """A new user namespace mapping host ``uid``/``gid`` to root inside, with new
    mount, network and IPC ones. An ordinary user maps itself, after giving up
    ``setgroups``; root maps ids of its choosing, which only a process left in
    the parent namespace may write: a helper forked first does it."""
    own = uid == os.geteuid() and gid == os.getegid()
    go, helper = os.pipe(), -1
    if not own:
        helper = os.fork()
        if helper == 0:
            os.close(go[1])
            ok = os.read(go[0], 1) == b"x"
            try:
                for name, host in (("uid_map", uid), ("gid_map", gid)):
                    _write(f"/proc/{os.getppid()}/{name}", f"0 {host} 1")
            except OSError:
                ok = False
            os._exit(0 if ok else 1)
    os.close(go[0])
    try:
        _unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC)
        if own:
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"0 {uid} 1")
            _write("/proc/self/gid_map", f"0 {gid} 1")
        else:
            os.write(go[1], b"x")
    finally:
        os.close(go[1])
        if helper > 0 and os.waitstatus_to_exitcode(os.waitpid(helper, 0)[1]) != 0:
            raise OSError(0, "could not write the user namespace's id maps")
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    if probe:  # what a kernel that grants the namespace but no capability in it refuses
        _become_root()
        _mount("tmpfs", "/tmp", "tmpfs", TMPFS, "size=1m")


def _become_root() -> None:
    """Root's launcher, whose host uid the namespace does not map: take the mapped
    ids (root inside), without the host's groups. (An ordinary user is root inside already.)"""
    if os.getuid() != 0:
        os.setgroups([])
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)


def _enter_namespaces(cfg: dict, userns: bool) -> dict:
    needed, covers, workdir = view_plan(cfg["needed"])  # while the paths are still visible
    if userns:
        _enter_userns(*_userns_ids(cfg))
        uid = 0  # root inside: the mapped host uid
    else:
        uid = cfg["uid"]
        _unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC)
        _mount("none", "/", None, MS_REC | MS_PRIVATE)
    clones = [(top, _clone(keep)) for top, keep in covers]  # root's launcher: before it leaves host root
    if userns:
        _become_root()
    for key, value in {**IPC_OFF, **(USERNS_OFF if userns else {})}.items():  # before /proc is covered
        _write(f"/proc/sys/{key}", value)
    for top, trees in clones:
        _cover(top, trees)
    os.makedirs(workdir, exist_ok=True)
    size = f"size={int(cfg['max_file_mb'])}m,nr_inodes=16384"
    _mount("tmpfs", workdir, "tmpfs", TMPFS, f"{size},mode=700,uid={uid},gid={uid}")
    _mount("tmpfs", "/dev/shm", "tmpfs", TMPFS, f"{size},mode=1777")
    return {"workdir": workdir, "nproc": True}


def _start_worker(cfg: dict, argv: list[str], userns: bool, memcg=None) -> None:
    """Become the parent of a new PID namespace whose PID 1 is the worker; finish
    the view when the worker asks; wait for it. Never returns."""
    to_launcher, to_worker = os.pipe(), os.pipe()
    cfg["ctl"] = [to_worker[0], to_launcher[1]]
    loader = _exec_only_loader(argv[0]) if userns else None
    _unshare(CLONE_NEWPID)
    pid = os.fork()
    if pid == 0:
        try:
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # kept across exec: dies with us
            for fd in cfg["ctl"] + ([cfg["oom_fd"]] if memcg is not None else []):
                os.set_inheritable(fd, True)
            if memcg is not None:
                memcg.join()
            if not userns:
                _apply_seccomp(cfg)
            full = argv + [json.dumps(cfg)]
            if loader is None:
                os.execv(argv[0], full)  # PID 1 of the new namespace; ctypes is gone with the exec
            _drop_capabilities()
            _apply_seccomp(cfg)
            full = argv + [json.dumps(cfg)]
            os.execve(loader[0], loader[1:] + full, dict(os.environ))  # execute-only: non-dumpable
        except BaseException as e:
            os.write(2, f"sandbox launcher: {e}\n".encode())
        os._exit(111)
    os.close(to_worker[0])
    os.close(to_launcher[1])
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)  # the worker owns the pipes: the host sees EOF when it dies
    os.dup2(null, 1)
    if os.read(to_launcher[0], 1) == b"i":  # the worker has done its imports
        try:
            finish([cfg["workdir"], "/dev/shm"])
            if memcg is not None:  # what the worker holds now, plus one run's allowance
                memcg.limit(int(cfg["memory_mb"]) << 20)
            answer = b"ok"
        except OSError as e:
            answer = str(e).encode()[:500] or b"failed"
        os.write(to_worker[1], answer)
    os.close(to_launcher[0])
    os.close(to_worker[1])
    _, status = os.waitpid(pid, 0)
    if memcg is not None:
        memcg.remove()
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _drop_capabilities() -> None:
    """No capability now, and none from any later exec (root or file capabilities)."""
    _check(_libc.prctl(PR_SET_SECUREBITS, SECUREBITS_LOCKED, 0, 0, 0), "securebits")
    cap = 0
    while _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
        cap += 1
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(_CapHeader(0x20080522, 0)), data), "capset")


def _clone(keep: list[str]) -> list[tuple[str, bool, int]]:
    """Detached copies of the mount trees at ``keep`` (to bind back after covering)."""
    return [(p, os.path.isdir(p), _check(_libc.syscall(SYS_OPEN_TREE, AT_FDCWD, p.encode(),
                                                       OPEN_TREE_CLONE | AT_RECURSIVE | os.O_CLOEXEC),
                                         "open_tree")) for p in keep]


def _cover(top: str, clones: list[tuple[str, bool, int]]) -> None:
    """Cover ``top`` with an empty tmpfs and attach the ``clones`` (``_clone``) back in."""
    if not os.path.isdir(top):  # inside a folder an earlier cover emptied: hidden already
        for _, _, fd in clones:
            os.close(fd)
        return
    _mount("tmpfs", top, "tmpfs", TMPFS, "size=1m,mode=755")
    for path, is_dir, fd in clones:
        os.makedirs(path if is_dir else os.path.dirname(path), mode=0o755, exist_ok=True)
        if not is_dir:  # a zip on sys.path: the mount point must be a file too
            open(path, "a").close()
        _check(_libc.syscall(SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, path.encode(), MOVE_MOUNT_F_EMPTY_PATH),
               "move_mount")
        os.close(fd)


def finish(writable: list[str]) -> None:
    """Mask the dangerous extension modules and make everything read-only but
    ``writable`` (the run's tmpfs mounts, still noexec, nosuid, nodev). Run by
    the launcher once the worker has done its imports."""
    for path in masked_files():
        _mount("/dev/null", path, None, MS_BIND)
    _set_attr("/", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID)
    for path in writable:
        _set_attr(path, 0, MOUNT_ATTR_RDONLY)

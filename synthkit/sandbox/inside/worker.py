"""The warm worker (zygote): one per sandbox slot, forks one child per run.

Started by ``launcher.launch_main`` (``exec``, as PID 1 of its own PID
namespace under full isolation) with its config as argv[1]. It never loads
ctypes. It imports the harness and the ``preload`` modules once, has the
file system made read-only (the launcher does it when asked over the ``ctl``
pipe; ``bwrap`` did it up front), says ``ready``, then serves jobs one at a
time over its stdin/stdout: for each it forks a child (``harness.main``), sends
the per-run key after the fork, watches the child's pipes and wall clock,
kills it at the deadline, and answers with what happened. After every run it
kills every other process in its namespace (the run's daemons included: it is
their PID 1 and reaps them) and empties the working directory and /dev/shm;
when it cannot, it answers ``retire`` and the host replaces it. It never runs
program code itself and never sees expected outputs (the host compares them).
"""

from __future__ import annotations

import _blake2
import fcntl
import gc
import hmac
import importlib
import json
import os
import select
import signal
import sys
import time

from synthkit.sandbox import wire
from synthkit.sandbox.inside import cleanup, confine, harness

HARNESS_MODULES = ("ast", "json", "traceback", "_thread", "fcntl", "resource", "types")
RAW_MEMORY = ("_ctypes", "_cffi_backend")  # loaded here, any program could reach raw memory
POLL_S = 0.05  # a run's output pipes are drained this often while it runs (not at every write: fewer wake-ups)


def main(cfg_json: str) -> None:
    os.umask(0o022)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # PID 1 with no handler: runs cannot signal it
    cfg = json.loads(cfg_json)
    cleanup.XATTRS_OFF = "xattrs" in cfg.get("without", ())
    for key in ("modules", "sys_path", "needed"):
        cfg.pop(key, None)
    sys.modules["ctypes"] = None  # type: ignore[assignment]  # preloads that try it (numpy) do without
    failed = []
    for name in list(HARNESS_MODULES) + list(cfg.get("preload", [])):
        try:
            importlib.import_module(name)
        except Exception as e:  # reported to the host, which logs it
            failed.append(f"{name}: {e}")
    leaked = [m for m in RAW_MEMORY if m in sys.modules]
    if not harness.pass_offset_holds():
        leaked.append("the pass call's bytecode offset (this Python's bytecode is not understood)")
    snapshot = harness.snapshot_modules(list(cfg.get("preload", [])))
    if cfg["isolation"] == "full":
        confine.set_env(cfg["workdir"])
        cfg["env_ready"] = True
    gc.collect()
    gc.freeze()  # a collection in a run (or here) never walks, so never copies, what is shared
    if cfg.get("ctl"):
        answer = _finish_view(cfg.pop("ctl"))
        if answer:
            failed.append(f"read-only remount: {answer}")
            leaked.append("read-only remount failed")
    wire.send(1, {"ready": not leaked, "isolation": cfg["isolation"], "via": cfg.get("via", "none"),
                   "memory_via": cfg.get("memory_via", "rlimit"), "seccomp": cfg.get("seccomp", ""),
                   "reason": cfg.get("reason", ""), "preload_failed": failed, "refused": leaked})
    if leaked:
        return
    while True:
        job = wire.recv(0)
        if job is None:
            return
        wire.send(1, serve(job, cfg, snapshot))


def _finish_view(ctl: list[int]) -> str:
    """Ask the launcher to mask and remount (it holds the capabilities); '' when done."""
    read_fd, write_fd = ctl
    try:
        os.write(write_fd, b"i")
        answer = os.read(read_fd, 1024).decode(errors="replace")
    except OSError as e:
        answer = str(e)
    finally:
        os.close(read_fd)
        os.close(write_fd)
    return "" if answer == "ok" else (answer or "the launcher did not answer")


def serve(job: dict, cfg: dict, snapshot: tuple) -> dict:
    if job["mode"] == "io":
        cases = []
        for text in job["inputs"]:
            res = run_process("io", job, cfg, text, snapshot)
            cases.append(res)
            if res["timed_out"] or res.get("retire"):
                break  # a program that timed out once would likely time out on every case
        return {"cases": cases, "retire": any(c.get("retire") for c in cases)}
    res = run_process("assert", job, cfg, "", snapshot)
    if "marks" in res:  # the child's own (diagnostic) timing lines
        res["marks"].update((t.split()[1], float(t.split()[2])) for t in res["report"].splitlines()
                            if t.startswith("T ") and len(t.split()) == 3)
    res.update(judge(res.pop("report"), res.pop("key"), int(job["n_tests"]), res))
    if "marks" in res:
        res["marks"]["judged"] = time.monotonic()
    return res


def run_process(kind: str, job: dict, cfg: dict, stdin_text: str, snapshot: tuple) -> dict:
    """Fork one child, supervise it to the end, return its raw outcome. With
    ``job["profile"]`` (bench/sandbox.py) it also says when each step ended."""
    marks = {"received": time.monotonic()} if job.get("profile") else None
    full = cfg["isolation"] == "full"
    limits = job["limits"]
    if stdin_text:
        stdin_fd = _stdin(stdin_text.encode("utf-8", "surrogateescape"), cfg["workdir"] if full else None)
    else:  # no input (assert mode, an empty io case): /dev/null, opened once
        stdin_fd = _devnull()
    pipes = [os.pipe() for _ in range(4 if kind == "assert" else 3)]
    for _, w in pipes[:2]:  # room for the capped output between two drains
        _grow_pipe(w, int(limits["max_output_bytes"]))
    uid = cfg.get("uid")
    if not full:
        import tempfile  # basic isolation only: a fresh directory per run

    workdir = cfg["workdir"] if full else tempfile.mkdtemp(prefix="synthkit-run-")
    if not full and uid is not None:
        os.chown(workdir, uid, uid)
    start = time.monotonic()
    if marks is not None:
        marks["forking"] = start
    pid = os.fork()
    if pid == 0:  # the child: never returns into the worker loop
        child_fds = [stdin_fd] + [w for _, w in pipes[:3]] + [pipes[3][0] if kind == "assert" else -1]
        try:
            harness.main(kind, job, cfg, workdir, child_fds, snapshot)
        finally:
            os._exit(harness.EXIT_SETUP)
    key = b""
    if kind == "assert":  # first thing: the child waits for it
        key = os.urandom(16)  # made after the fork: never in the child's copy of our memory
        try:
            _write_all(pipes[3][1], key)
        except OSError:
            pass  # the child died during setup; _supervise will say so
        finally:
            os.close(pipes[3][1])
    if marks is not None:
        marks["forked"] = time.monotonic()
    if stdin_text:
        os.close(stdin_fd)
    for i, (r, w) in enumerate(pipes):
        os.close(r if i == 3 else w)
    clean = False
    oom_fd = cfg.get("oom_fd")
    kills = _cgroup_kills(oom_fd) if oom_fd is not None else 0
    try:
        watch = (workdir, "/dev/shm") if cfg.get("inode_cap") else ()
        out = _supervise(pid, [r for r, _ in pipes[:3]], start, limits, full, marks, watch, cfg.get("inode_cap", 0))
        if oom_fd is not None and _cgroup_kills(oom_fd) > kills:
            out["oom"] = True
    finally:
        if full:
            clean = cleanup.empty(workdir, 0o700, int(uid) if uid is not None else None)
            clean = cleanup.empty("/dev/shm", 0o1777, 0 if uid is not None else None) and clean
        else:
            if uid is not None:
                cleanup.kill_uid(int(uid))
            cleanup.empty(workdir, None, None, tmpfs=False)
            try:
                os.rmdir(workdir)
            except OSError:
                pass
            clean = True  # a fresh directory per run
    out["key"] = key.hex()
    if marks is not None:
        marks["cleaned"] = time.monotonic()
        out["marks"] = marks
    if not clean:
        out["retire"] = True  # the next run must not see what this one left
    return out


def _supervise(pid: int, fds: list[int], start: float, limits: dict, full: bool, marks: dict | None,
               watch: tuple = (), inode_cap: int = 0) -> dict:
    """Read stdout, stderr and report until the child exits or the deadline passes. ``watch``:
    tmpfs folders mounted without an inode limit (bwrap), whose files and folders are counted
    at every wake-up; past ``inode_cap`` the run is killed (their inodes are kernel memory)."""
    cap = int(limits["max_output_bytes"])
    bufs = {fd: bytearray() for fd in fds}
    dropped = dict.fromkeys(fds, 0)
    pidfd = os.pidfd_open(pid)
    deadline, timed_out = start + float(limits["timeout_s"]), False
    for fd in fds:
        os.set_blocking(fd, False)
    flowing, inodes_out = False, False  # flowing: output came at the last drain: wake on output too until it stops
    while True:  # wake at the exit, the deadline, or every POLL_S to drain (a full pipe blocks the run)
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            _kill(pid, full)
            break
        if watch and _inodes(watch) > inode_cap:
            inodes_out = True
            _kill(pid, full)
            break
        if pidfd in select.select([pidfd] + (fds if flowing else []), [], [], min(left, POLL_S))[0]:
            break
        flowing = sum(_drain(fd, bufs[fd], dropped, cap) for fd in fds) > 0
    _, status, usage = os.wait4(pid, 0)
    duration = time.monotonic() - start
    os.close(pidfd)
    if marks is not None:
        marks["reaped"] = time.monotonic()
    if full:
        cleanup.sweep()
    if marks is not None:
        marks["swept"] = time.monotonic()
    for fd in fds:  # writers are gone (full isolation), or we stop at what is there (basic)
        _drain(fd, bufs[fd], dropped, cap)
        os.close(fd)
    out_fd, err_fd, rep_fd = fds
    cpu = usage.ru_utime + usage.ru_stime
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    cpu_out = sig == signal.SIGKILL and cpu >= float(limits["cpu_s"]) - 0.1
    return {"stdout": _text(bufs[out_fd]), "stderr": _text(bufs[err_fd]), "report": _text(bufs[rep_fd]),
            "stdout_dropped": dropped[out_fd], "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1,
            "signal": sig, "timed_out": timed_out or cpu_out, "cpu_limit": cpu_out and not timed_out,
            "duration_s": round(duration, 6), "cpu_s": round(cpu, 6), **({"inodes": True} if inodes_out else {})}


def _inodes(paths: tuple) -> int:
    """Files and folders in use on the filesystems of ``paths``."""
    total = 0
    for path in paths:
        try:
            st = os.statvfs(path)
            total += st.f_files - st.f_ffree
        except OSError:
            pass
    return total


def _cgroup_kills(fd: int) -> int:
    """The ``oom_kill`` count in the worker's memory cgroup's events file (``isolation.cgroup.events_fd``)."""
    try:
        text = os.pread(fd, 4096, 0)
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(b"oom_kill "):
            return int(line.split()[1])
    return 0


def _grow_pipe(fd: int, size: int) -> None:
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, min(max(size, 1 << 16), 1 << 20))
    except OSError:  # over the user's pipe allowance: the default size, drained as often
        pass


def _drain(fd: int, buf: bytearray, dropped: dict, cap: int) -> int:
    """Read what the pipe holds now; the number of bytes read."""
    before = len(buf) + dropped[fd]
    try:
        while _read_some(fd, buf, dropped, cap):
            pass
    except BlockingIOError:
        pass
    return len(buf) + dropped[fd] - before


def _read_some(fd: int, buf: bytearray, dropped: dict, cap: int) -> bool:
    chunk = os.read(fd, 1 << 16)
    if not chunk:
        return False
    room = max(0, cap - len(buf))
    buf += chunk[:room]
    dropped[fd] += len(chunk) - min(room, len(chunk))  # keep draining, so the child never blocks
    return True


def _kill(pid: int, full: bool) -> None:
    targets = [(os.kill, pid)] if full else [(os.killpg, pid), (os.kill, pid)]
    for kill, target in targets:
        try:
            kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass


_DEVNULL: list[int] = []


def _stdin(data: bytes, workdir: str | None) -> int:
    """A read-only descriptor holding ``data``: a pipe filled up front when it
    fits (memfd_create is denied to the worker too, see ``seccomp``), else an
    unlinked file in the run's working directory (counted in its size cap)."""
    r, w = os.pipe()
    try:
        if len(data) <= fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, min(max(len(data), 1 << 16), 1 << 20)):
            _write_all(w, data)
            return r
    except OSError:
        pass
    finally:
        os.close(w)
    os.close(r)
    import tempfile

    fd, path = tempfile.mkstemp(dir=workdir)
    try:
        _write_all(fd, data)
        reader = os.open(path, os.O_RDONLY)
    finally:
        os.unlink(path)
        os.close(fd)
    return reader


def _devnull() -> int:
    if not _DEVNULL:
        _DEVNULL.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
    return _DEVNULL[0]


def _text(b: bytearray) -> str:
    return bytes(b).decode("utf-8", "replace")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# --- judging an assert-mode run --------------------------------------------------------------

def judge(report: str, key_hex: str, n: int, proc: dict) -> dict:
    """Status from the report lines. Only a valid ``P`` tag counts as a pass."""
    key = bytes.fromhex(key_hex)
    valid, notes = set(), {}
    for line in report.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "P":
            i_text, _, mac = rest.partition(" ")
            if i_text.isdigit() and int(i_text) < n:
                want = _blake2.blake2b(b"P%d" % int(i_text), key=key, digest_size=16).hexdigest()
                if hmac.compare_digest(want, mac):
                    valid.add(int(i_text))
        elif tag in ("E", "U", "L", "X", "S", "M", "D"):
            notes.setdefault(tag, rest)
    status, detail = _status(len(valid), n, notes, proc)
    return {"status": status, "tests_passed": len(valid), "tests_total": n, "detail": detail}


def _status(k: int, n: int, notes: dict, proc: dict) -> tuple[str, str]:
    summary = f"{k}/{n} tests passed"
    if n and k == n:
        return "passed", summary
    if proc["timed_out"]:
        what = "CPU time" if proc["cpu_limit"] else "wall clock"
        return "timeout", f"{summary}; {what} limit reached"
    if "M" in notes:
        return "memory", f"{summary}; MemoryError"
    if proc.get("oom"):
        return "memory", f"{summary}; memory limit reached (killed by the memory cgroup)"
    if proc.get("inodes"):
        return "memory", f"{summary}; too many files and folders in its tmpfs folders"
    if proc["signal"]:
        return "killed", f"{summary}; killed by {signal.Signals(proc['signal']).name}"
    for tag, what in (("S", "sandbox failure"), ("X", "forbidden operation"), ("L", "")):
        if tag in notes:
            return "error", f"{summary}; {what + ': ' if what else ''}{notes[tag]}"
    if "D" not in notes:
        return "error", f"{summary}; exited (code {proc['exit_code']}) before the tests finished"
    first = notes.get("E") or notes.get("U") or ""
    return "failed", f"{summary}; {first.split(' ', 1)[-1] if first else ''}".rstrip("; ")

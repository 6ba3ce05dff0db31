"""``Sandbox``: the host-side facade over a pool of warm workers.

``run(programs) -> results`` is thread-safe and returns results in input
order; ``workers`` programs run at the same time. Each worker is a separate
Python process started with a scrubbed environment (``worker``), serving one
program at a time; a thread of this process talks to it, keeping the next job
already in the worker's pipe (``PIPELINE``) so the worker never waits for it.
A worker that dies or stops answering is killed (with every process of its
runs) and restarted; the program it was running gets status ``killed``, the
ones queued behind it go to its replacement. The next programs run as usual.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from synthkit.errors import ConfigError
from synthkit.sandbox import wire
from synthkit.sandbox.program import Program, Result, finish_assert, finish_io, prepare

log = logging.getLogger(__name__)

_ROOT = str(Path(__file__).resolve().parents[2])
# The worker's boot: its code arrives as source in its config (the view holds no synthkit file), then runs.
_WORKER = ("import json, sys, types\ncfg = json.loads(sys.argv[1])\nsys.path[:] = cfg['sys_path']\n"
           "for name in ('synthkit', 'synthkit.sandbox', 'synthkit.sandbox.inside'):\n"
           "    sys.modules[name] = types.ModuleType(name)\n    sys.modules[name].__path__ = []\n"
           "for name, source in cfg['modules']:\n"
           "    mod = sys.modules[name] = types.ModuleType(name)\n    mod.__file__ = '<synthkit>/' + name\n"
           "    exec(compile(source, mod.__file__, 'exec', dont_inherit=True), mod.__dict__)\n"
           "    parent, _, leaf = name.rpartition('.')\n    setattr(sys.modules[parent], leaf, mod)\n"
           "del cfg, name, source, mod, parent, leaf\n"
           "from synthkit.sandbox.inside.worker import main\n"
           "for name in [n for n in sys.modules if n.split('.')[0] == 'synthkit']:\n    del sys.modules[name]\n"
           "main(sys.argv[1])\n")
_LAUNCH = f"import sys; sys.path.insert(0, {_ROOT!r}); from synthkit.sandbox.isolation.launcher import launch_main; " \
          f"launch_main({_WORKER!r})"
_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
BACKENDS = ("root", "userns", "bwrap")  # full-isolation mechanisms, tried in this order (see isolation.launcher)
START_TIMEOUT_S = 60.0      # a worker must say "ready" within this
SLACK_S = 10.0              # extra time the host grants a worker beyond the run's own limits
PIPELINE = 2                # jobs in a worker's pipe at once: it starts the next as it answers
PIPE_SAFE_BYTES = 32 << 10  # a bigger job waits for an idle worker: a pipe holds 64 KiB
DEFAULT_PRELOAD = ("collections", "itertools", "functools", "heapq", "bisect", "math", "cmath", "re",
                   "string", "random", "statistics", "typing", "dataclasses", "fractions", "decimal",
                   "operator", "copy", "json", "datetime", "array", "enum", "textwrap", "hashlib")


class _Batch:
    """The programs of one ``run()`` call: set ``done`` when the last result is in."""

    def __init__(self, n: int) -> None:
        self.left, self.lock, self.done = n, threading.Lock(), threading.Event()
        if n == 0:
            self.done.set()

    def finished(self) -> None:
        with self.lock:
            self.left -= 1
            if self.left == 0:
                self.done.set()


@dataclass
class _Slot:
    """One queued program: its job (and its encoded message), and where its result goes."""

    job: dict | None
    expected: list[str] | None
    result: Result | None = None
    batch: _Batch | None = None
    message: bytes = b""


class _Worker:
    """One worker (its launcher process, its pipes); owned by exactly one host thread."""

    def __init__(self, cfg: dict) -> None:
        """Start the process; ``wait_ready`` must follow (so several can start at once)."""
        self.proc = subprocess.Popen([sys.executable, "-I", "-c", _LAUNCH], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=dict(_ENV), close_fds=True,
                                     start_new_session=True, cwd="/")
        self.isolation, self.via, self.reason = "none", "none", ""
        self.memory_via, self.seccomp = "rlimit", ""
        wire.send(self.proc.stdin.fileno(), cfg)

    def wait_ready(self) -> "_Worker":
        try:
            hello = wire.recv(self.proc.stdout.fileno(), time.monotonic() + START_TIMEOUT_S)
        except (OSError, wire.WireTimeout, ValueError):
            hello = None
        if isinstance(hello, dict) and hello.get("refused"):
            self.kill()
            raise ConfigError(f"sandbox preload: refused, {', '.join(hello['refused'])} would give programs "
                              "raw memory access (see synthkit.sandbox)")
        if not isinstance(hello, dict) or not hello.get("ready"):
            self.kill()
            raise RuntimeError("sandbox worker failed to start (see its stderr above)")
        self.isolation, self.via, self.reason = hello["isolation"], hello.get("via", "none"), hello.get("reason", "")
        self.memory_via, self.seccomp = hello.get("memory_via", "rlimit"), hello.get("seccomp", "")
        if hello.get("preload_failed"):
            log.warning("sandbox preload failed: %s", "; ".join(hello["preload_failed"]))
        return self

    def ask(self, job: dict, deadline: float) -> dict | None:
        """The worker's reply, or None if it died or missed the deadline."""
        return self.reply(deadline) if self.send(wire.encode(job)) else None

    def send(self, message: bytes) -> bool:
        try:
            wire.send_bytes(self.proc.stdin.fileno(), message)
            return True
        except OSError as e:
            log.warning("sandbox worker %d failed (%s); restarting it", self.proc.pid, e)
            return False

    def reply(self, deadline: float) -> dict | None:
        """The answer to the oldest job sent, or None if it died or missed the deadline."""
        try:
            return wire.recv(self.proc.stdout.fileno(), deadline)  # type: ignore[return-value]
        except (OSError, wire.WireTimeout, ValueError) as e:
            log.warning("sandbox worker %d failed (%s); restarting it", self.proc.pid, e)
            return None

    def kill(self) -> None:
        try:  # its runs die with it: PR_SET_PDEATHSIG, and PID 1 of each run's namespace
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.proc.stdin.close()  # end of file: the worker leaves its loop
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


class Sandbox:
    """Runs untrusted programs against their tests. See ``synthkit.sandbox``.

    ``workers``: programs run in parallel. ``timeout_s``: wall clock per process
    (the program plus all its asserts; each io case separately). ``memory_mb``:
    address-space limit. ``isolation``: ``"full"`` refuses to start without
    namespaces; ``"auto"`` falls back to ``basic`` with a warning; ``"basic"``
    asks for it (no namespaces; see ``synthkit.sandbox``). ``backends``: the
    mechanisms tried for full isolation, in order (``root``, ``userns``,
    ``bwrap``; see ``launcher``).

    After start: ``isolation`` is what runs get (``"full"`` or ``"basic"``),
    ``via`` the mechanism (``"root"``, ``"userns"``, ``"bwrap"``, or
    ``"none"``), ``isolation_reason`` why the mechanisms before it were not used.
    """

    def __init__(self, workers: int = 2, timeout_s: float = 5.0, memory_mb: int = 512, *,
                 max_output_bytes: int = 1 << 20, max_processes: int = 32, max_open_files: int = 64,
                 max_file_mb: int = 16, stack_mb: int = 0, preload: tuple[str, ...] | list[str] = (),
                 isolation: str = "auto", backends: tuple[str, ...] | list[str] = BACKENDS,
                 _without: tuple[str, ...] = ()) -> None:
        _validate(workers, timeout_s, memory_mb, max_output_bytes, max_processes, max_open_files,
                  max_file_mb, isolation, backends)
        self.workers, self.timeout_s, self.memory_mb = int(workers), float(timeout_s), int(memory_mb)
        self.limits = {"timeout_s": self.timeout_s, "cpu_s": math.ceil(self.timeout_s) + 1,
                       "memory_mb": self.memory_mb, "max_output_bytes": int(max_output_bytes),
                       "max_processes": int(max_processes), "max_open_files": int(max_open_files),
                       "max_file_mb": int(max_file_mb),
                       "stack_mb": int(stack_mb) or max(8, min(64, self.memory_mb // 8))}
        self._cfg = {"preload": list(DEFAULT_PRELOAD) + list(preload), "max_file_mb": int(max_file_mb),
                     "memory_mb": self.memory_mb, "without": list(_without),  # bench/sandbox.py: what one costs
                     "force_basic": isolation == "basic", "backends": list(backends)}
        self._queue: queue.Queue = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()
        self._pool = [_Worker(self._cfg) for _ in range(self.workers)]
        try:
            for w in self._pool:
                w.wait_ready()
        except (RuntimeError, ConfigError):
            self._shutdown()
            raise
        self.isolation, self.via = self._pool[0].isolation, self._pool[0].via
        self.isolation_reason = self._pool[0].reason
        self.memory_via, self.seccomp = self._pool[0].memory_via, self._pool[0].seccomp
        if isolation == "full" and self.isolation != "full":
            self._shutdown()
            raise ConfigError("isolation: 'full' needs Linux namespaces: root, unprivileged user namespaces "
                              f"or bubblewrap (bwrap), and none worked here ({self.isolation_reason})")
        if self.isolation != "full" and isolation != "basic":
            log.warning("sandbox runs with BASIC isolation (%s): no network, file or daemon containment",
                        self.isolation_reason)
        self._threads = [threading.Thread(target=self._serve, args=(i,), name=f"sandbox-{i}", daemon=True)
                         for i in range(self.workers)]
        for t in self._threads:
            t.start()
        self._finalizer = weakref.finalize(self, _kill_all, self._pool)

    # --- public API ---------------------------------------------------------------------------
    def run(self, programs: list[Program]) -> list[Result]:
        """Run every program; results come back in the same order."""
        slots = []
        for program in programs:
            job, expected, early = prepare(program, self.limits)
            slots.append(_Slot(job, expected, early, message=wire.encode(job) if job is not None else b""))
        todo = [s for s in slots if s.result is None]
        batch = _Batch(len(todo))
        with self._lock:
            if self._closed:
                raise RuntimeError("Sandbox.run() after close()")
            for slot in todo:
                slot.batch = batch
                self._queue.put(slot)
        batch.done.wait()
        return [s.result for s in slots]  # type: ignore[misc]

    def close(self) -> None:
        """Stop the workers. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()
        self._shutdown()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ----------------------------------------------------------------------------
    def _serve(self, i: int) -> None:
        """Feed worker ``i``: up to ``PIPELINE`` jobs in its pipe, answered in order."""
        sent: deque = deque()   # jobs in the worker's pipe; the oldest is the one running
        waiting, stop, since = None, False, 0.0
        while True:
            if waiting is None and not stop and len(sent) < PIPELINE:
                try:
                    waiting = self._queue.get(block=not sent)
                    stop = waiting is None  # the shutdown marker
                except queue.Empty:
                    pass
            if waiting is not None and (not sent or len(waiting.message) <= PIPE_SAFE_BYTES):
                if not sent:
                    since = time.monotonic()
                if self._pool[i].send(waiting.message):
                    sent.append(waiting)
                    waiting = None
                    continue
                sent.append(waiting)  # the worker is gone: this one is reported with the oldest
                waiting = None
            if not sent:
                if stop:
                    return
                continue
            slot = sent.popleft()
            job = slot.job
            n_runs = len(job["inputs"]) if job["mode"] == "io" else 1
            reply = self._pool[i].reply(since + n_runs * (self.timeout_s + 1.0) + SLACK_S)
            if reply is None or reply.get("retire"):  # dead, or unable to clean up: a fresh one
                self._restart(i)
                for queued in sent:  # they never ran: the replacement gets them
                    if not self._pool[i].send(queued.message):
                        break
            since = time.monotonic()
            self._finish(slot, reply, n_runs)

    def _finish(self, slot: _Slot, reply: dict | None, n_runs: int) -> None:
        job = slot.job
        try:
            if reply is None:
                slot.result = Result("killed", False, 0.0, 0, n_runs if job["mode"] == "io" else
                                     int(job["n_tests"]), 0.0, detail="the sandbox worker died; restarted")
            elif job["mode"] == "io":
                slot.result = finish_io(reply["cases"], slot.expected or [])
            else:
                slot.result = finish_assert(reply)
        except Exception as e:  # never leave a caller waiting forever
            log.exception("sandbox: could not finish a result")
            slot.result = Result("error", False, 0.0, 0, 0, 0.0, detail=f"sandbox error: {e}")
        finally:
            slot.batch.finished()

    def _restart(self, i: int) -> None:
        self._pool[i].kill()
        try:
            self._pool[i] = _Worker(self._cfg).wait_ready()
        except (RuntimeError, OSError) as e:  # the next job on this slot tries again
            log.error("sandbox worker %d could not restart: %s", i, e)

    def _shutdown(self) -> None:
        for w in self._pool:
            w.close()


def _kill_all(pool: list[_Worker]) -> None:
    for w in pool:
        if w.proc.poll() is None:
            w.kill()


def _validate(workers, timeout_s, memory_mb, max_output_bytes, max_processes, max_open_files,
              max_file_mb, isolation, backends) -> None:
    checks = [("workers", workers, 1), ("timeout_s", timeout_s, 0.01), ("memory_mb", memory_mb, 64),
              ("max_output_bytes", max_output_bytes, 1024), ("max_processes", max_processes, 4),
              ("max_open_files", max_open_files, 16), ("max_file_mb", max_file_mb, 1)]
    for name, value, low in checks:
        if not isinstance(value, (int, float)) or value < low:
            raise ConfigError(f"sandbox {name}: expected a number >= {low}, got {value!r}")
    if memory_mb < 2 * max_file_mb + 64:
        raise ConfigError(f"sandbox memory_mb: expected >= 2 * max_file_mb + 64 = {2 * max_file_mb + 64} (the run's "
                          f"two tmpfs folders count inside it), got {memory_mb!r}")
    if isolation not in ("auto", "full", "basic"):
        raise ConfigError(f"sandbox isolation: expected 'auto', 'full' or 'basic', got {isolation!r}")
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or isinstance(backends, str):
        raise ConfigError(f"sandbox backends: expected a list of {', '.join(BACKENDS)}, got {backends!r}")

"""Run untrusted (model-written) programs against their tests, in isolation.

    from synthkit.sandbox import Sandbox, Program
    with Sandbox(workers=2, timeout_s=5.0, memory_mb=512) as sb:
        results = sb.run([Program(code=src, tests="assert f(1) == 2\\n"),
                          Program(code=src, io_tests=[{"input": "1 2\\n", "output": "3\\n"}])])
    results[0].passed, results[0].status, results[0].pass_rate, results[0].duration_s

``status`` is one of passed, failed, error, timeout, memory, killed. See
``program`` for the two test styles and ``units`` for what counts as one test.

How it runs. Each of ``workers`` slots is one warm worker: a fresh interpreter
with a scrubbed environment that imports the harness and common stdlib
modules once, and then forks one child per run (per assert-style program, or
per io case). The child confines itself (``_confine``) and runs the program
(``_child``). Forking a warm process costs a few milliseconds where starting
an interpreter costs tens (``bench/sandbox.py``). The namespaces and mounts
are made once per worker by its launcher process (``_isolate``): the worker
itself never loads ctypes, which would otherwise be one import away for
programs.

Full isolation comes from Linux namespaces, made by the first mechanism that
works here (``Sandbox.via`` says which; ``backends`` changes the order):
``root`` (the caller is root), ``userns`` (an unprivileged user namespace:
any user, where the kernel allows them), ``bwrap`` (bubblewrap, where it is
installed and the kernel refuses the second). See ``_isolate``.

What it protects against (full isolation; one adversarial test each in
``tests/sandbox/test_adversarial.py``, which CI runs as root under ``root``
and as an ordinary user under ``userns`` and ``bwrap``:
``tests/sandbox/test_unprivileged.py``):

- **Faked passes.** A pass needs, for every test, a line tagged with a keyed
  hash (BLAKE2b) of the test's index under a per-run key. The key is sent by
  the worker after the fork and lives only in the closure of an audit hook
  installed before the program runs; the hook writes the line only when
  ``synthkit.pass`` is raised by the frame running that test's own compiled
  code on the harness's test globals, which happens after the test's last
  assert held. So exiting early (``sys.exit(0)``, ``os._exit(0)``), printing
  pass-like output, writing forged lines to every file descriptor, raising the
  event by hand, re-running the test code with other globals, or patching
  builtins, ``AssertionError``, ``sys.exit``, ``os._exit``, ``os.write`` or the
  harness module does not produce a pass.
- **Reading or patching the harness.** The hook ends the run on the ways to
  reach it, its key or other threads' frames: ``gc.get_objects/get_referrers/
  get_referents``, ``sys._current_frames``, ``sys.settrace/setprofile``,
  ``sys.addaudithook``, building code objects, loading marshal data (imports
  compile from source), ctypes, and any native module that is not the
  standard library's or preloaded (cffi and the like give raw memory). The
  standard library's ctypes and test-only C modules are masked on disk, and
  the worker never loaded them. The program runs in a non-main thread, so it
  cannot install the signal handlers whose frame argument could expose the
  hook. The harness process is non-dumpable (``root``: it left root;
  ``userns``, ``bwrap``: the worker was started from an unreadable file, and
  its runs inherit that), and the program's processes hold no capability:
  they cannot ptrace it or read its memory, and /proc is hidden.
  Changes the program's top level made to common modules (builtins, math,
  re, collections, ...) are undone before the tests, and each test starts
  with a fresh copy of the pristine builtins; the harness binds what it uses
  to locals before the program runs. Expected io outputs never leave the
  host process.
- **Resources.** CPU time, address space (``memory_mb``), file size, process
  count (per run uid, or per the worker's user namespace) and open files are
  limited with setrlimit; stdout/stderr are capped (the rest is read and
  dropped, so the program never blocks).
- **Runaways.** At the wall-clock limit the run is SIGKILLed, and after every
  run the worker, which is PID 1 of a PID namespace holding only it and its
  runs, kills and reaps every other process in it: signal-ignoring and
  daemonised (double fork + setsid) ones included.
- **Network.** Each worker lives in an empty network namespace: connecting to
  any address, 127.0.0.1 included, fails.
- **Files.** The filesystem is read-only and nosuid, with /root, /home, /run,
  /tmp, /proc and a few more replaced by empty directories (the Python
  installation bound back in). A run writes only to its working directory
  (/tmp) and /dev/shm, size-limited tmpfs that the worker empties after the
  run; SysV IPC and message queues are switched off.
- **Privileges and neighbours.** The program runs without capabilities and
  with a scrubbed environment: as a uid of its own without groups (``root``),
  or as the caller inside a user namespace that no ``exec`` gives
  capabilities in and that can make no nested one (``userns``). It cannot
  signal the worker (PID 1 of its namespace, with no handler: the kernel drops
  what comes from inside), the host or other runs (other workers have other
  PID namespaces).
  A program that crashes or kills its worker costs only its own result: the
  worker is restarted and later programs run.

What it does NOT protect against:

- Programs that pass by *value* tricks: returning an object whose ``__eq__``
  is always true, or patching a module (or the running test's namespace)
  from inside a call the test makes. The tests are visible to the program, which can also
  special-case them. The sandbox guarantees that each test statement really
  ran to its end in the harness's namespace, not that the program is honest.
- Preloaded packages that can wrap raw addresses (numpy's
  ``__array_interface__``): with one in ``preload`` a program written against
  this harness could find the key. Bugs in the CPython interpreter (memory
  corruption from pure Python) or in the kernel (the program shares it).
- Reading world-readable files outside the hidden directories (the rest of
  the filesystem is visible, read-only), CPU/cache side channels, per-uid
  kernel state such as keyrings, and hosts where ``fs.suid_dumpable`` is 1.
  Under ``userns`` and ``bwrap`` the program has the caller's uid and groups,
  so it reads (never writes) whatever the caller may read outside the hidden
  directories, not only world-readable files.
- Under ``bwrap``: SysV IPC and message queues are private to the worker but
  not switched off (objects may outlive a run of that worker), and a setuid
  bwrap that makes no user namespace applies no process cap.
- Without any mechanism (``isolation`` ``"basic"``, logged as a warning
  unless asked for): rlimits, a new session killed as a group, a scrubbed
  environment, a temporary working directory, the audit hook, and, when root,
  a run uid whose every process is killed after the run. There is NO network
  or file-system containment, and ctypes is not masked on disk. Pass
  ``isolation="full"`` to refuse to run instead.

Program-visible limits in assert mode: ``signal.signal`` fails (non-main
thread); ``gc`` introspection, ctypes, ``marshal`` and native modules other
than the standard library's and the preloaded ones end the run. Modules the
worker did not import are compiled from source when imported, so list heavy
pure-Python ones, and every package with native code, in ``preload``. Only
what the program's uid can read is importable. In io mode the program runs in
the main thread, without the hook (it has no pass to fake: the host compares
its output). ``timeout_s`` is per process: the program plus all its asserts,
or one io case.
"""

from typing import TYPE_CHECKING

__all__ = ["STATUSES", "Program", "Result", "Sandbox"]
_HOMES = {"Sandbox": "synthkit.sandbox.pool", "Program": "synthkit.sandbox.program",
          "Result": "synthkit.sandbox.program", "STATUSES": "synthkit.sandbox.program"}

if TYPE_CHECKING:
    from synthkit.sandbox.pool import Sandbox
    from synthkit.sandbox.program import STATUSES, Program, Result


def __getattr__(name: str):
    """The names above load on first use: a worker imports ``synthkit.sandbox._worker``
    and must not load the host side (threading, logging, subprocess: every module
    it holds costs each fork, and some run code after every fork)."""
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'synthkit.sandbox' has no attribute {name!r}")

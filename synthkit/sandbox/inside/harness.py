"""The harness inside a sandboxed child: confine, then run the program.

Runs in the process the worker forks for one run, and never returns (it ends
with ``os._exit``). File descriptors: 0 stdin, 1 stdout, 2 stderr, 3 report
(harness -> worker lines), 4 key (worker -> harness, assert mode only).

Report lines (only ``P`` lines are authenticated; the rest is diagnostics the
worker uses for the detail text, which a program could forge without gain):
``P <i> <tag>`` test i passed, ``E <i> <msg>`` test i failed, ``U <msg>`` a
setup statement failed, ``L <msg>`` the program failed to load, ``M`` a
MemoryError, ``X <event>`` a forbidden operation, ``S <msg>`` the sandbox
itself failed, ``D`` the harness finished.

Assert mode, in this order, before any program code runs: compile the tests,
install the audit hook (``_install_hook``; irreversible, it holds the per-run
key the worker sent after the fork), then run the program and the tests in a
second thread. That thread may not install Python signal handlers, whose
``frame`` argument could otherwise expose the hook's frame while it runs.
"""

from __future__ import annotations

import _blake2
import _thread
import builtins
import fcntl
import gc
import os
import sys
import time
import traceback
import types

from synthkit.sandbox.inside import confine
from synthkit.sandbox.units import PASS_EVENT, PASS_NAME, compile_sources, pass_offset

REPORT_FD, KEY_FD = 3, 4
EXIT_SETUP, EXIT_FORBIDDEN, EXIT_HOOK = 111, 112, 113
_DENY = frozenset({
    "sys.addaudithook", "sys.settrace", "sys.setprofile", "sys._current_frames",
    "sys._current_exceptions", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
    "code.__new__", "marshal.loads", "marshal.load",
})
_DENY_IMPORTS = frozenset({"ctypes", "_ctypes", "_testcapi", "_testinternalcapi", "_testbuffer",
                           "_testmultiphase"})
# modules whose top-level patches are undone before the tests (what tests commonly use): those the
# tests can reach, see _reach
RESTORED = ("builtins", "math", "cmath", "string", "re", "collections", "itertools", "functools", "heapq",
            "bisect", "operator", "random", "statistics", "fractions", "decimal", "json", "copy", "typing",
            "numbers", "array", "datetime")
# names in tests that can reach any module at run time: then every RESTORED module is restored
_DYNAMIC = frozenset({"eval", "exec", "compile", "__import__", "importlib", "globals", "vars", "getattr", "sys",
                      "locals", "__builtins__"})
_write, _exit, _audit = os.write, os._exit, sys.audit  # bound before any program can patch them


def snapshot_modules(preload: list[str]) -> tuple:
    """(modules, native_dirs, uses, by_id), taken once in the worker after its imports.

    modules: read-only copies of the RESTORED modules (taken there, not per
    run: copying touches every value's reference count, and in a forked child
    each touched page is a copy-on-write fault; read-only, because the program
    can reach the harness's arguments). native_dirs: where native modules may
    be loaded from (see ``_forbidden``). uses: each RESTORED module's name ->
    the RESTORED modules it reaches through its globals (itself included,
    transitively). by_id: ``id(module)`` -> name."""
    modules = tuple((name, sys.modules[name], types.MappingProxyType(dict(vars(sys.modules[name]))))
                    for name in RESTORED if name in sys.modules)
    names = {name for name, _, _ in modules}
    direct = {name: {name} | {getattr(v, "__name__", "") if isinstance(v, types.ModuleType) else
                              getattr(v, "__module__", "") for v in saved.values()} & names
              for name, _, saved in modules}
    uses = {}
    for name in direct:
        seen, todo = set(), [name]
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo += direct[n]
        uses[name] = frozenset(seen)
    dirs = [p for p in sys.path if p.endswith("lib-dynload")]
    for name in preload:
        dirs += list(getattr(sys.modules.get(name.split(".")[0]), "__path__", None) or [])
    dirs = [d.rstrip("/") + "/" for d in dirs + [os.path.realpath(d) for d in dirs]]
    return modules, tuple(sorted(set(dirs))), uses, {id(m): name for name, m, _ in modules}


def pass_offset_holds() -> bool:
    """Whether ``units.pass_offset`` is where this interpreter's frame stands while
    the appended pass call runs (checked once per worker, before any program:
    a worker whose Python disagrees refuses to start, so no pass is ever lost or forged)."""
    import functools

    seen: list = []
    code = compile_sources([["x = 1\nassert x == 1", True, 1]])[0][0]
    # called through a C callable, as sys.audit is: a Python callee would see the frame past the call's caches
    exec(code, {PASS_NAME: functools.partial(lambda _event: seen.append(sys._getframe(1).f_lasti))})
    return seen == [pass_offset(code)]


def main(kind: str, job: dict, cfg: dict, workdir: str, fds: list[int], snapshot: tuple) -> None:
    """Entry point in the forked child. ``cfg``: the worker's; ``fds``: stdin,
    stdout, stderr, report, key (or -1); ``snapshot``: from ``snapshot_modules``."""
    global _PROFILE
    _PROFILE = bool(job.get("profile"))
    try:
        _place_fds(fds)
        _mark("child_started")
        confine.enter_run(cfg, job["limits"], workdir)
        _mark("confined")
        sys.argv = ["solution.py"]
        sys.path[0:0] = [workdir]
        _run_io(job["code"]) if kind == "io" else _run_asserts(job, snapshot)
    except BaseException as e:  # the sandbox failed, not the program
        _line(b"S", f"{type(e).__name__}: {e}")
    _exit(EXIT_SETUP)


def _place_fds(fds: list[int]) -> None:
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) if fd >= 0 else -1 for fd in fds]
    for target, fd in enumerate(high):
        if fd >= 0:
            os.dup2(fd, target)
    os.closerange(len(fds), 1 << 20)  # the worker's pipes to the host among them


_PROFILE = False  # bench/sandbox.py --profile: ``T <mark> <monotonic time>`` report lines


def _mark(name: str) -> None:
    if _PROFILE:
        _line(b"T", f"{name} {time.monotonic()}")


def _line(tag: bytes, text: str = "") -> None:
    text = text.replace("\n", " ")[:1000]
    try:
        _write(REPORT_FD, tag + b" " + text.encode("utf-8", "replace") + b"\n")
    except OSError:
        pass


# --- stdin/stdout programs ---------------------------------------------------------------------

def _run_io(source: str) -> None:
    code = 0
    try:
        exec(compile(source, "solution.py", "exec", dont_inherit=True), _namespace())
        threading = sys.modules.get("threading")  # imported by the program (the harness uses _thread)
        for t in threading.enumerate() if threading is not None else ():
            if t is not threading.main_thread() and not t.daemon:  # like interpreter exit
                t.join()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, (int, type(None))):
            print(e.code, file=sys.stderr)
    except MemoryError:
        _line(b"M")
        code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    _flush()
    _exit(code & 0xFF)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:
            pass


def _namespace() -> dict:
    return {"__name__": "__main__", "__builtins__": builtins, "__file__": "solution.py"}


# --- assert-style programs ---------------------------------------------------------------------

def _run_asserts(job: dict, snapshot: tuple) -> None:
    flush, write, exit_, report_fd, mark = _flush, _write, _exit, REPORT_FD, _mark  # used after the program ran
    compiled = compile_sources(job["units"])
    names = _code_names([c for c, _, _ in compiled])
    test_globals: dict = {}
    _install_hook([c for c, is_test, _ in compiled if is_test], test_globals, snapshot[1])
    sys.dont_write_bytecode = True
    # imports compile from source: bytecode never comes from a file the program wrote
    sys.pycache_prefix = "/nonexistent/synthkit"
    _thread.stack_size(int(job["limits"]["stack_mb"]) * 1024 * 1024)
    done = _thread.allocate_lock()  # _thread, not threading: its after-fork hook would cost every run
    done.acquire()
    _mark("hooked")
    _thread.start_new_thread(_program_thread, (done, (job["code"], compiled, job.get("entry_point") or "",
                                                      test_globals, snapshot, names)))
    done.acquire()  # released when the program thread ends
    mark("tests_ran")
    flush()
    write(report_fd, b"D\n")
    exit_(0)


def _program_thread(done, args: tuple) -> None:
    try:
        _runner(*args)
    finally:
        done.release()


def _code_names(codes: list) -> frozenset:
    """Every global, attribute and imported name the test code (nested code included) uses."""
    out, todo = set(), list(codes)
    while todo:
        code = todo.pop()
        out.update(code.co_names)
        todo += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return frozenset(out)


def _runner(source: str, compiled: list, entry_point: str, tg: dict, snapshot: tuple, names: frozenset) -> None:
    """Runs in the program thread: the program, then every unit in order.

    Everything used after the program's top level ran is bound to locals
    first, and what is called then gets what it needs as arguments: the
    program can patch modules, builtins and this module's globals, but not the
    locals of a running frame (nor, the hook sees to it, a function's code)."""
    run, restore, reach, diag, items, mytype, mystr, myid = exec, _restore, _reach, _diag, dict.items, type, str, id
    fresh, update, dynamic, pass_name, audit = types.MappingProxyType.copy, dict.update, _DYNAMIC, PASS_NAME, _audit
    modules, pristine, sys_modules = snapshot[0], snapshot[0][0][2], sys.modules
    g = _namespace()
    try:
        run(compile(source, "solution.py", "exec", dont_inherit=True), g)
    except BaseException as e:  # SystemExit included: as in the HumanEval harness, no test runs
        diag(b"L", "the program raised while loading", e)
        return
    restore(modules, sys_modules, reach(names, [*items(g)], snapshot[2], snapshot[3], dynamic, mytype, mystr, myid),
            update)
    for name, value in [*items(g)]:
        # a program's own `abs` or `len` must not change what the tests compute
        if mytype(name) is mystr and not name.startswith("__") and (name not in pristine or name == entry_point):
            tg[name] = value
    tg.update({"__name__": "__main__", pass_name: audit})
    index = 0
    for code, is_test, line in compiled:
        tg["__builtins__"] = fresh(pristine)  # whatever an earlier test's call patched is gone
        try:
            run(code, tg)
        except BaseException as e:
            if is_test:
                diag(b"E %d" % index, f"test {index + 1} (line {line}) failed", e)
            else:
                diag(b"U", f"setup statement at line {line} failed", e)
        index += is_test


def _reach(names: frozenset, program_items: list, uses: dict, by_id: dict, dynamic: frozenset,
           mytype, mystr, myid) -> set:
    """The RESTORED modules the tests can reach: builtins, those the test code
    names (imported by it, or the program's global of that name), and what
    those use; all of them when the test code names a dynamic way in
    (``getattr``, ``sys``, ``__import__``...: ``dynamic``). It runs after the
    program: only arguments, literals and C-level operations on the program's
    objects (exact type and identity checks); no global or builtin is looked up."""
    if names & dynamic:
        return {*uses}
    start = {"builtins", *(names & uses.keys())}
    for name, value in program_items:
        if mytype(name) is mystr and name in names and myid(value) in by_id:
            start.add(by_id[myid(value)])
    out = {*()}
    for n in start:
        out |= uses[n]
    return out


def _restore(modules: tuple, sys_modules: dict, wanted: set, update) -> None:
    """Undo what the program's top level did to the ``wanted`` common modules
    (``math.isclose = lambda *a: True``, a patched ``builtins``). Only C-level
    operations on objects captured before the program ran (``update`` is
    ``dict.update``). Restoring touches every value's reference count, so
    each restored module costs copy-on-write faults: hence ``wanted``."""
    for name, module, saved in modules:
        if name in wanted:
            sys_modules[name] = module
            update(module.__dict__, saved)


def _diag(tag: bytes, what: str, exc: BaseException) -> None:
    if isinstance(exc, MemoryError):
        _line(b"M")
    try:
        msg = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    except BaseException:
        msg = type(exc).__name__
    _line(tag, f"{what}: {msg}")
    try:
        _write(2, f"{what}: {msg}\n".encode("utf-8", "replace"))
    except OSError:
        pass


def _install_hook(test_codes: list, test_globals: dict, native_dirs: tuple) -> None:
    """Install the audit hook that alone can report a test as passed.

    A pass line needs the per-run key, which exists only in this hook's closure
    (never in a frame the program can reach, a module, or the program thread).
    The hook writes ``P i <tag>`` only for the event ``synthkit.pass`` whose
    nearest Python frame runs test i's own compiled code object, on the
    harness's test globals, called by the harness's own ``_runner`` frame (not
    a re-run of the code by the program: ``exec(frame.f_code, frame.f_globals)``),
    with its instruction pointer on the appended pass call (``units.pass_offset``). That call is the test's last statement, so
    the frame gets there only when every statement before it completed: an
    event raised from anywhere else in the test (a C callable such as
    ``functools.partial(sys.audit, ...)`` as a dunder, a callback) finds the
    frame on an earlier instruction. See docs/sandbox.md for the argument. The hook also kills the
    process on events that would let a program reach the hook or forge code
    (``_forbidden``); it never raises, so no traceback can carry its frame.
    Everything it uses is bound here, before the program runs: it looks up no
    global, so patching this module cannot make it call program code (which
    could then read the key off its frame).
    """
    key = os.read(KEY_FD, 64)
    os.close(KEY_FD)
    state = [key]
    codes = {id(c): (i, c, pass_offset(c)) for i, c in enumerate(test_codes)}
    getframe, blake, mytype, mystr, myid = sys._getframe, _blake2.blake2b, type, str, id
    gc_off, gc_on, gc_enabled = gc.disable, gc.enable, gc.isenabled
    write, exit_, report_fd, pass_event = _write, _exit, REPORT_FD, PASS_EVENT
    exit_forbidden, exit_hook = EXIT_FORBIDDEN, EXIT_HOOK
    forbidden = _forbidden(native_dirs)
    runner = [None]  # the frame of the harness's _runner: the caller of the first exec, before any program code

    def hook(event, args):
        was_on = gc_enabled()
        gc_off()  # no collection, so no program callback, can run while this frame is live
        try:
            if mytype(event) is not mystr:
                return
            if event == pass_event:
                try:
                    frame = getframe(1)
                except ValueError:  # raised from C with no Python frame at all (a C thread target)
                    return
                hit = codes.get(myid(frame.f_code))
                if (hit is not None and hit[1] is frame.f_code and frame.f_lasti == hit[2]
                        and frame.f_globals is test_globals and frame.f_back is runner[0] is not None and state[0]):
                    tag = blake(b"P%d" % hit[0], key=state[0], digest_size=16).hexdigest()
                    write(report_fd, b"P %d %s\n" % (hit[0], tag.encode()))
            else:
                if event == "exec" and runner[0] is None:
                    runner[0] = getframe(1)
                what = forbidden(event, args)
                if what:
                    write(report_fd, b"X " + what.encode("utf-8", "replace") + b"\n")
                    exit_(exit_forbidden)
        except BaseException:
            exit_(exit_hook)
        finally:
            if was_on:
                gc_on()

    def wipe() -> None:  # a forked copy of the program must not inherit the key
        state[0] = b""

    os.register_at_fork(after_in_child=wipe)
    sys.addaudithook(hook)


def _forbidden(native_dirs: tuple):
    """The hook's deny rules: ``check(event, args)`` names what is forbidden, or
    returns None. Only C-level operations on values of exact built-in types,
    so no program code can run inside the hook. Native (extension) modules may
    be loaded only from ``native_dirs`` (the standard library's lib-dynload and
    the packages the worker preloaded): a module loaded from anywhere else
    (cffi, say) could hand the program raw memory."""
    mytype, mystr, deny, deny_imports = type, str, _DENY, _DENY_IMPORTS  # bound now: see _install_hook

    def check(event, args):
        if event in deny or event.startswith("ctypes."):
            return event
        if event == "object.__setattr__":  # a harness function's code swapped for the program's
            return "replacing a function's __code__" if mytype(args[1]) is mystr and args[1] == "__code__" else None
        if event != "import":
            return None
        name, path = args[0], args[1]
        if mytype(name) is not mystr or name.rpartition(".")[2] in deny_imports:
            return f"import {name if mytype(name) is mystr else '?'}"
        if path is not None and (mytype(path) is not mystr or "/../" in path or not path.startswith(native_dirs)):
            return f"native module {name} from outside the standard library"
        return None

    return check

"""One hostile program per property the sandbox claims (see docs/sandbox.md).

Each program is wrong on purpose and tries to be reported as passing, or to
reach outside its run. All of them run inside the sandbox, under whichever
mechanism gives full isolation (as root: ``root``; ``test_unprivileged.py``
runs this file again as an ordinary user, under ``userns`` and ``bwrap``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest
from helpers.sandbox import (
    make_sandbox,
    pid_namespace,
    require_full,
    run1,
    sandbox_processes,
    worker_pid,
)

from synthkit.sandbox import Program

WRONG = "def add(a, b):\n    return a - b\n"
TESTS = "assert add(1, 2) == 3\nassert add(2, 2) == 4\n"


@pytest.fixture(autouse=True)
def full_isolation(sandbox):
    require_full(sandbox)


def assert_not_passed(sb, *codes, tests=TESTS):
    results = sb.run([Program(code=c, tests=tests) for c in codes])
    for code, r in zip(codes, results):
        assert not r.passed and r.tests_passed == 0, (code, r)
    return results


def test_exiting_before_the_tests_is_not_a_pass(sandbox):
    assert_not_passed(sandbox, WRONG + "import sys\nsys.exit(0)\n", WRONG + "import os\nos._exit(0)\n",
                      WRONG.replace("return a - b", "import os\n    os._exit(0)"),
                      WRONG.replace("return a - b", "raise SystemExit(0)"))


def test_printing_or_writing_a_pass_is_not_a_pass(sandbox):
    spray = WRONG + ("import os\nfor fd in range(64):\n    try:\n"
                     "        os.write(fd, b'P 0 00ff\\nP 1 00ff\\nD\\n')\n    except OSError:\n        pass\n")
    assert_not_passed(sandbox, WRONG + "print('P 0 x\\nP 1 y\\nD\\n2/2 tests passed\\nPASSED')\n", spray)


def test_patching_builtins_and_exits_is_not_a_pass(sandbox):
    patches = ["import builtins\nbuiltins.AssertionError = type('Nope', (Exception,), {})\n",
               "import sys, os\nsys.exit = lambda *a: None\nos._exit = lambda *a: None\nos.write = lambda *a: 0\n",
               "import builtins\nbuiltins.abs = lambda x: 0\ndef abs(x):\n    return 0\n"]
    assert_not_passed(sandbox, *[WRONG + p for p in patches])
    assert_not_passed(sandbox, WRONG + patches[2], tests="assert abs(add(1, 2) - 3) < 1e-9\n")
    isclose = "import math\nmath.isclose = lambda *a, **k: True\n"
    assert_not_passed(sandbox, WRONG + isclose, tests="import math\nassert math.isclose(add(1, 2), 3)\n")


def test_patching_the_harness_is_not_a_pass(sandbox):
    harness = ("import sys\nm = sys.modules['synthkit.sandbox.inside.harness']\n"
               "for name in list(vars(m)):\n    if callable(getattr(m, name)):\n"
               "        setattr(m, name, lambda *a, **k: None)\n")
    by_hand = "import sys\nsys.audit('synthkit.pass')\nsys.audit('synthkit.pass', 0)\n"
    # re-run the genuine test code object with globals where `add` is right
    other_globals = ("import sys\ndef add(a, b):\n    f = sys._getframe(1)\n"
                     "    exec(f.f_code, {**f.f_globals, 'add': lambda a, b: a + b})\n    return a - b\n")
    assert_not_passed(sandbox, WRONG + harness, WRONG + by_hand, other_globals)
    # switch off the restore of patched modules, then patch math; or patch a later test's builtins
    no_restore = ("import sys, builtins, math\nm = sys.modules['synthkit.sandbox.inside.harness']\n"
                  "m._restore = lambda *a: None\nbuiltins.dict = lambda *a, **k: {'abs': lambda x: 0}\n"
                  "math.isclose = lambda *a, **k: True\n")
    assert_not_passed(sandbox, WRONG + no_restore, tests="import math\nassert math.isclose(add(1, 2), 3)\n")
    later = ("import sys\ndef add(a, b):\n    sys._getframe(1).f_builtins['abs'] = lambda x: 0\n"
             "    return a - b\n")
    r = sandbox.run([Program(code=later, tests="assert add(1, 2) == 3\nassert abs(add(1, 2) - 3) < 1e-9\n")])[0]
    assert r.tests_passed == 0 and not r.passed


def test_patching_what_the_harness_uses_after_the_program_is_not_a_pass(sandbox):
    # the harness module is out of sys.modules, but its globals are one frame up from the program's top level
    child = ("import sys, math, builtins\nG = sys._getframe(1).f_globals\nclass _M:\n"
             "    def __getattr__(self, k):\n        return G[k]\n    def __setattr__(self, k, v):\n"
             "        G[k] = v\nm = _M()\nassert G['__name__'] == 'synthkit.sandbox.inside.harness'\n")
    # the hook calls only what it bound before the program ran: a patched write that reads
    # the key off the hook's frame and forges every pass line is never called
    steal = ("def spy(fd, data):\n    f = sys._getframe(1)\n"
             "    while f is not None and 'state' not in f.f_locals:\n        f = f.f_back\n"
             "    import _blake2, os\n    key = f.f_locals['state'][0]\n    for i in range(2):\n"
             "        tag = _blake2.blake2b(b'P%d' % i, key=key, digest_size=16).hexdigest().encode()\n"
             "        os.write(3, b'P %d %s\\n' % (i, tag))\n    os.write(3, b'D\\n')\n    os._exit(0)\n"
             "m._write = spy\nm._exit = lambda *a: None\nsys.settrace(lambda *a: None)\n")
    deny = "m._DENY = frozenset()\nimport gc\ngc.get_objects()\n"  # the deny list too
    code = "m._restore.__code__ = (lambda *a: None).__code__\nmath.isclose = lambda *a, **k: True\n"
    fake_dict = ("builtins.dict = type('D', (), {'update': staticmethod(lambda *a: None)})\n"
                 "math.isclose = lambda *a, **k: True\n")
    uses_math = "import math\nassert math.isclose(add(1, 2), 3)\nassert add(2, 2) == 4\n"
    results = assert_not_passed(sandbox, *[WRONG + child + p for p in (steal, deny, code, fake_dict)],
                                tests=uses_math)
    assert [r.status for r in results[:3]] == ["error"] * 3 and "__code__" in results[2].detail


def test_patched_modules_are_restored_for_every_way_the_tests_reach_them(sandbox):
    # restored are builtins, the modules the test code names (its imports, or the
    # program's globals it uses), what those use, and all of them for dynamic access
    patch = "import math, fractions\nmath.isclose = lambda *a, **k: True\nfractions.Fraction = lambda *a: 3\n"
    tests = ["import math\nassert math.isclose(add(1, 2), 3)\n",             # imported by the tests
             "assert math.isclose(add(1, 2), 3)\n",                            # the program's global
             "import statistics\nassert statistics.mean([add(1, 2)]) == statistics.mean([3])\n",
             "assert getattr(__import__('ma' + 'th'), 'isclose')(add(1, 2), 3)\n"]
    for t in tests:
        assert_not_passed(sandbox, WRONG + patch, tests=t)
    alias = "import math as m\nm.isclose = lambda *a, **k: True\nmath = m\n"
    assert_not_passed(sandbox, WRONG + alias, tests="assert math.isclose(add(1, 2), 3)\n")


def test_the_hook_and_key_are_out_of_reach(sandbox):
    probes = {"gc": "import gc\ngc.get_objects()\n",
              "frames": "import sys\nsys._current_frames()\n",
              "trace": "import sys\nsys.settrace(lambda *a: None)\n",
              "ctypes": "import ctypes\nctypes.string_at(id(0), 8)\n",
              "bytecode": "(lambda: 0).__code__.replace(co_consts=(None,))\n",
              "hooks": "import sys\nsys.addaudithook(lambda *a: None)\n"}
    for r in assert_not_passed(sandbox, *[WRONG + p for p in probes.values()]):
        assert r.status == "error" and "forbidden operation" in r.detail
    import _ctypes

    import numpy.random.mtrand as outside  # any native module outside the standard library
    by_path = ("import importlib.util as u\nm = u.module_from_spec(u.spec_from_file_location(%r, %r))\n"
               "print('loaded')\n")
    loads = [by_path % ("_ctypes", _ctypes.__file__), by_path % ("x._ctypes", _ctypes.__file__),
             by_path % ("mtrand", outside.__file__), "import ctypes\n",
             "import sys\ndel sys.modules['ctypes']\nimport ctypes\n"]
    for r in assert_not_passed(sandbox, *[WRONG + p for p in loads]):
        assert r.status == "error" and "forbidden operation" in r.detail and not r.stdout
    memory = ("import os\nseen = []\nfor p in ('/proc/self/mem', '/proc/1/environ', '/proc/self/maps'):\n"
              "    try:\n        open(p, 'rb').read(1)\n        seen.append(p)\n    except OSError:\n        pass\n"
              "try:\n    os.read(4, 64)\n    seen.append('key fd')\nexcept OSError:\n    pass\nprint(seen)\n")
    r = assert_not_passed(sandbox, WRONG + memory)[0]
    assert r.stdout == "[]\n"


def test_running_the_test_code_again_is_not_a_pass(sandbox):
    # the test's own code object on the harness's own test globals, run again by the program with a
    # right `add` (from a call the test makes, or from its top level through the harness's frame)
    again = ("import sys, types\n_inner = []\ndef add(a, b):\n    if _inner:\n        return a + b\n"
             "    frame = sys._getframe(1)\n    _inner.append(1)\n    %s\n    print('ran')\n    _inner.clear()\n"
             "    return a - b\n")
    early = ("import sys\nf = sys._getframe(1).f_locals\ntg = f['tg']\ntg['__synthkit_pass__'] = sys.audit\n"
             "tg['add'] = lambda a, b: a + b\nfor code, is_test, _ in f['compiled']:\n    exec(code, tg)\n"
             "print('ran')\n" + WRONG)
    codes = [again % "exec(frame.f_code, frame.f_globals)",
             again % "types.FunctionType(frame.f_code, frame.f_globals)()", early]
    for r in assert_not_passed(sandbox, *codes):
        assert "ran" in r.stdout, r  # the test code did run to its end, outside the harness's own frame


# A process placed where the program's own processes are: root, the run uid; userns
# and bwrap, the worker's user namespace with no capability in it.
_DROP_TO_RUN_UID = ("import os, sys\nuid = int(sys.argv[1])\nos.setgroups([])\nos.setresgid(uid, uid, uid)\n"
                    "os.setresuid(uid, uid, uid)\n")
_ENTER_WORKER_USERNS = ("import os, sys\nsys.path.insert(0, %r)\nfrom synthkit.sandbox.isolation import launcher as I\n"
                        "fd = os.open(f'/proc/{sys.argv[2]}/ns/user', os.O_RDONLY)\n"
                        "I._check(I._libc.setns(fd, I.CLONE_NEWUSER), 'setns')\n"
                        "if os.getuid() == int(open('/proc/sys/kernel/overflowuid').read()):\n"
                        "    I._become_root()  # root's sandbox maps a uid of its own: take it\n"
                        "I._drop_capabilities()\n" % str(Path(__file__).resolve().parents[2]))
_READ_MEMORY = ("try:\n    open(f'/proc/{sys.argv[2]}/mem', 'rb')\nexcept PermissionError:\n    sys.exit(0)\n"
                "sys.exit(1)\n")


def _probe(prelude: str, uid: str, pid: int) -> str:
    code = f"try:\n{textwrap.indent(prelude, '    ')}except BaseException as e:\n    print(e)\n    sys.exit(2)\n"
    done = subprocess.run([sys.executable, "-c", "import sys\n" + code + _READ_MEMORY, uid, str(pid)],
                          capture_output=True, text=True, check=False)
    assert done.returncode in (0, 1), f"the probe failed: {done.stdout}{done.stderr}"
    return "denied" if done.returncode == 0 else "read"


def test_the_harness_process_cannot_be_read_by_the_program():
    # The harness is non-dumpable, so a process of the same uid (any the program starts)
    # can neither open its /proc/<pid>/mem nor ptrace it. root: the run left root.
    # userns/bwrap: the worker was started from an unreadable file and every run
    # inherits that. The control, a process the program exec'd, is readable: the
    # probe does read what it may.
    program = ("import os, sys, time\nif os.fork() == 0:\n"
               "    os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(5)'])\n"
               "time.sleep(5)\n")
    outcomes = {}
    with make_sandbox(workers=1, timeout_s=10.0) as sb:
        def spy():
            deadline, pids = time.monotonic() + 4, []
            while len(pids) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
                pids = sandbox_processes(sb)
            for pid in pids:
                uid = Path(f"/proc/{pid}/status").read_text().split("\nUid:")[1].split()[0]
                kind = "exec'd" if b"time.sleep(5)" in Path(f"/proc/{pid}/cmdline").read_bytes() else "harness"
                try:
                    outcomes.setdefault(kind, []).append(
                        _probe(_DROP_TO_RUN_UID if sb.via == "root" else _ENTER_WORKER_USERNS, uid, pid))
                except AssertionError as e:
                    outcomes.setdefault(kind, []).append(str(e))

        watcher = threading.Thread(target=spy)
        watcher.start()
        r = run1(sb, program, "assert True\n")
        watcher.join()
    assert r.passed and outcomes == {"harness": ["denied"], "exec'd": ["read"]}, outcomes


def test_no_network_not_even_loopback(sandbox):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    code = ("import socket\nfor addr in [('127.0.0.1', %d), ('::1', %d), ('1.1.1.1', 53)]:\n"
            "    try:\n        socket.create_connection(addr, timeout=1)\n        print('connected', addr)\n"
            "    except OSError:\n        print('refused')\n" % (port, port))
    r = run1(sandbox, code, "assert True\n")
    assert r.passed and r.stdout.split() == ["refused"] * 3
    with pytest.raises(socket.timeout):
        listener.accept()
    listener.close()


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("SYNTHKIT_TEST_SECRET", "hunter2")
    with make_sandbox(workers=1, timeout_s=5.0) as sb:
        r = run1(sb, "import os\nprint(sorted(os.environ.items()))\n", "assert True\n")
    assert "hunter2" not in r.stdout and "SYNTHKIT_TEST_SECRET" not in r.stdout and "PATH" in r.stdout


def test_files_outside_the_workdir_stay_untouched(sandbox, tmp_path):
    # a world-writable host directory outside the hidden ones: the read-only mount must still stop writes
    # (an ordinary user cannot write the test folder: the run's own temporary folder, which it owns, then)
    here = Path(__file__).resolve().parent
    probe = Path(tempfile.mkdtemp(prefix=".sandbox-probe-", dir=here if os.access(here, os.W_OK) else tmp_path))
    probe.chmod(0o777)
    tmp_before = set(os.listdir(tempfile.gettempdir()))
    try:
        code = ("import os\nfor p in [%r, '/etc/x', '/tmp/../etc/y', 'here.txt', '/dev/shm/z']:\n"
                "    try:\n        open(p, 'w').write('x')\n        print('wrote', p)\n"
                "    except OSError as e:\n        print('denied', p)\n" % str(probe / "pwned"))
        r = run1(sandbox, code, "assert open('here.txt').read() == 'x'\n")
        assert r.passed, r
        assert r.stdout.count("denied") == 3 and "wrote here.txt" in r.stdout
        assert not list(probe.iterdir()) and not os.path.exists("/etc/x")
        again = run1(sandbox, "import os\nprint(sorted(os.listdir('.')))\n", "assert True\n")
        assert again.stdout == "[]\n"  # a fresh working directory: the last run's file is gone
    finally:
        shutil.rmtree(probe)
    assert set(os.listdir(tempfile.gettempdir())) - tmp_before == set()


def test_daemons_and_signal_ignorers_die_with_the_run(sandbox):
    daemon = ("import os, signal, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
              "        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n        time.sleep(60)\n"
              "    os._exit(0)\nprint('left a daemon')\n")
    r = run1(sandbox, daemon, "assert True\n")
    assert r.passed and r.stdout == "left a daemon\n"
    assert sandbox_processes(sandbox) == []
    start = time.monotonic()
    stubborn = ("import os, signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
                "    signal.signal(s, signal.SIG_IGN)\nif os.fork() == 0:\n    os.setsid()\n"
                "while True:\n    pass\n")
    r = run1(sandbox, stubborn, io=[{"input": "", "output": ""}])
    assert r.status == "timeout" and time.monotonic() - start < 2.0 + 2.0
    assert sandbox_processes(sandbox) == []


def test_fork_bombs_and_descriptor_floods_are_capped(sandbox):
    bomb = ("import os\nn = 0\ntry:\n    while n < 10000:\n        if os.fork() == 0:\n"
            "            import time\n            time.sleep(30)\n            os._exit(0)\n        n += 1\n"
            "except OSError:\n    print('capped at', n)\n")
    r = run1(sandbox, bomb, "assert True\n")
    assert r.passed and r.stdout.startswith("capped at") and int(r.stdout.split()[-1]) < 64
    files = "fs = []\ntry:\n    while True:\n        fs.append(open('/dev/null'))\nexcept OSError:\n    print(len(fs))\n"
    assert int(run1(sandbox, files, "assert True\n").stdout) < 64
    big = "try:\n    open('big', 'wb').write(b'x' * (64 << 20))\nexcept OSError as e:\n    print(e.errno)\n"
    assert run1(sandbox, big, "assert True\n").stdout == "27\n"  # EFBIG
    assert sandbox_processes(sandbox) == []


def test_killing_the_worker_does_not_take_the_pool_down():
    with make_sandbox(workers=1, timeout_s=5.0) as sb:
        hostile = ("import os, signal\nfor pid in (os.getppid(), 1, -1):\n    try:\n"
                   "        os.kill(pid, signal.SIGKILL)\n        print('killed', pid)\n"
                   "    except OSError:\n        pass\n")
        launcher = sb._pool[0].proc.pid
        worker = worker_pid(launcher)
        r = run1(sb, hostile + WRONG.replace("- b", "+ b"), TESTS)
        # the worker is PID 1 (the kernel drops signals to it from inside) and, as root, another uid
        assert r.passed and (r.stdout == "" or sb.via != "root") and _alive(worker)
        assert sb._pool[0].proc.pid == launcher
        namespace = pid_namespace(worker)
        killer = threading.Timer(0.5, os.kill, (worker, 9))  # a crash of the worker itself
        killer.start()
        # the two behind it were already in the dead worker's pipe: its replacement runs them
        right = Program(code=WRONG.replace("- b", "+ b"), tests=TESTS)
        r, *after = sb.run([Program(code="import time\ntime.sleep(3)\n", tests="assert True\n"), right, right])
        killer.join()
        assert r.status == "killed" and "worker died" in r.detail and all(a.passed for a in after)
        assert sb._pool[0].proc.pid != launcher
        assert run1(sb, WRONG.replace("- b", "+ b"), TESTS).passed
    # the dead worker took its run along (PID 1 of their namespace); reaping is asynchronous
    deadline = time.monotonic() + 5
    while (sandbox_processes(namespaces={namespace}) or _alive(worker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox_processes(namespaces={namespace}) == [] and not _alive(worker) and not _alive(launcher)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_nothing_of_synthkit_its_task_sets_or_installed_packages_is_reachable():
    # the view holds the interpreter and the standard library only: a program that looks for the
    # bundled tasks (reference solutions included), the package, a run folder or any installed
    # package finds none of them, by path, by import or by walking the whole tree
    import datasets

    import synthkit

    package = Path(synthkit.__file__).resolve().parent
    files = sorted(str(p) for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    files += [str(Path(datasets.__file__).resolve()), str(package.parent / "pyproject.toml"), __file__]
    assert any(f.endswith("hard.jsonl") for f in files)
    program = ("import json, os, sys\nfound = []\nfor p in json.loads(%r):\n    try:\n"
               "        open(p, 'rb').read(1)\n        found.append(p)\n    except OSError:\n        pass\n"
               "for name in ('synthkit', 'synthkit.data', 'datasets', 'numpy', 'torch'):\n    try:\n"
               "        __import__(name)\n        found.append('import ' + name)\n    except ImportError:\n"
               "        pass\n"
               "for top in sorted(os.listdir('/')):\n    if top in ('proc', 'sys', 'dev'):\n        continue\n"
               "    for d, dirs, names in os.walk('/' + top):\n"
               "        found += [os.path.join(d, n) for n in dirs + names if 'synthkit' in n or n.endswith('.jsonl')]\n"
               "print(json.dumps(found))\n" % json.dumps(files))
    with make_sandbox(workers=1, timeout_s=30.0, memory_mb=512) as sb:
        require_full(sb)
        r = run1(sb, program, "assert True\n")
    assert r.passed, r
    assert json.loads(r.stdout) == [], r.stdout[:2000]

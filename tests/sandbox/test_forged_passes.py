"""Generated attempts to forge a pass: every way a program can call something
from the test's own frame, times the callables that raise the pass event.

Each program's ``add`` is wrong; it arranges for a C-level callable (one that
creates no Python frame of its own) to raise the harness's pass event while
the test's frame is running, at a call site the test reaches before its
assert decides. None may count as a pass (``synthkit.sandbox``: the event
counts only from the frame's appended pass call). Runs as root here, and as an
ordinary user under ``userns``/``bwrap`` from ``test_unprivileged.py``.
"""

from __future__ import annotations

import itertools

import pytest
from helpers.sandbox import require_full

from synthkit.sandbox import Program
from synthkit.sandbox.units import PASS_EVENT, PASS_NAME

PRELUDE = (f"import sys, functools, operator, types\nEV = {PASS_EVENT!r}\n"
           "class Base(dict):\n    audit = staticmethod(sys.audit)\n")
ANY = None
# name -> (expression of a callable that raises the event and creates no Python frame, the arities it accepts)
CALLABLES = {
    "partial": ("functools.partial(sys.audit, EV)", ANY),
    "nested partial": ("functools.partial(functools.partial(sys.audit, EV))", ANY),
    "bound builtin": ("types.MethodType(sys.audit, EV)", ANY),
    "methodcaller": ("operator.methodcaller('audit', EV)", {1}),
    "map consumed by sum": ("functools.partial(sum, map(functools.partial(sys.audit, EV), [0]))", {1}),
    "filter consumed by sum": ("functools.partial(sum, filter(functools.partial(sys.audit, EV), [0]))", {1}),
    "exec of a code object": ("functools.partial(exec, compile('import sys; sys.audit(%r)' % EV, 's', 'exec'))",
                              {1}),
}
T_EQ = "assert add(1, 2) == 3\nassert add(2, 2) == 4\n"
RET_R = "def add(a, b):\n    return R()\n"
# name -> (how many arguments the call site passes, program after FORGE is defined, tests)
SITES = {
    "__eq__": (2, "class R(Base):\n    __eq__ = FORGE\n" + RET_R, T_EQ),
    "__bool__": (1, "class B(Base):\n    __bool__ = FORGE\nclass R(Base):\n    def __eq__(self, o):\n"
                    "        return B()\n" + RET_R, T_EQ),
    "__float__": (1, "class R(Base):\n    __float__ = FORGE\n" + RET_R,
                  "import math\nassert math.isclose(add(1, 2), 3)\n"),
    "__hash__": (1, "class R(Base):\n    __hash__ = FORGE\n" + RET_R, "assert add(1, 2) in {3}\n"),
    "__index__": (1, "class R(Base):\n    __index__ = FORGE\n" + RET_R, "assert [0, 1, 2, 3][add(1, 2)] == 3\n"),
    "__len__": (1, "class R(Base):\n    __len__ = FORGE\n" + RET_R, "assert len(add(1, 2)) == 3\n"),
    "__iter__": (1, "class R(Base):\n    __iter__ = FORGE\n" + RET_R, "assert list(add(1, 2)) == [3]\n"),
    "__del__": (1, "class R(Base):\n    __del__ = FORGE\n" + RET_R, T_EQ),
    "__contains__": (2, "class R(Base):\n    __contains__ = FORGE\n" + RET_R, "assert 3 in add(1, 2)\n"),
    "__lt__": (2, "class R(Base):\n    __lt__ = FORGE\n" + RET_R, "assert add(1, 2) < 4\nassert add(2, 2) < 5\n"),
    "__format__": (2, "class R(Base):\n    __format__ = FORGE\n" + RET_R, "assert f'{add(1, 2)}' == '3'\n"),
    "__getattr__": (2, "class R(Base):\n    __getattr__ = FORGE\n" + RET_R, "assert add(1, 2).value == 3\n"),
    "__init_subclass__": (0, "class R(Base):\n    __init_subclass__ = FORGE\ndef add(a, b):\n    return R\n",
                          "assert type('T', (add(1, 2),), {}).x == 3\n"),
    "descriptor __get__": (3, "class D(Base):\n    __get__ = FORGE\nclass R(Base):\n    real = D()\n" + RET_R,
                           "assert add(1, 2).real == 3\n"),
    "metaclass __eq__": (2, "class M(type):\n    __eq__ = FORGE\n    __hash__ = type.__hash__\n"
                            "class R(Base, metaclass=M):\n    pass\ndef add(a, b):\n    return R\n", T_EQ),
    "metaclass __call__": (1, "class M(type):\n    __call__ = FORGE\nclass R(Base, metaclass=M):\n    pass\n"
                              "def add(a, b):\n    return R\n", "assert add(1, 2)() == 3\n"),
    "weakref callback": (1, "import weakref\nclass R(Base):\n    pass\nKEEP = []\ndef add(a, b):\n    r = R()\n"
                            "    KEEP.append(weakref.ref(r, FORGE))\n    return r\n", T_EQ),
    "gc callback": (2, "import gc\ngc.callbacks.append(FORGE)\ngc.set_threshold(1)\nclass R(Base):\n    pass\n"
                       + RET_R, "assert [add(1, 2), [], []] == [3, [], []]\n"),
    "unraisable hook": (1, "sys.unraisablehook = FORGE\nclass R(Base):\n    def __del__(self):\n"
                           "        raise ValueError\n" + RET_R, T_EQ),
    "thread target": (0, "import _thread, time\n_thread.start_new_thread(FORGE, ())\ntime.sleep(0.05)\n"
                         "def add(a, b):\n    _thread.start_new_thread(FORGE, ())\n    time.sleep(0.05)\n"
                         "    return 0\n", T_EQ),
    "signal handler": (2, "import signal\nsignal.signal(signal.SIGALRM, FORGE)\nsignal.setitimer("
                          "signal.ITIMER_REAL, 0.001, 0.001)\n" + RET_R.replace("R()", "a - b"), T_EQ),
    "atexit": (0, "import atexit\natexit.register(FORGE)\n" + RET_R.replace("R()", "a - b"), T_EQ),
    "profile function": (3, "sys.setprofile(FORGE)\n" + RET_R.replace("R()", "a - b"), T_EQ),
    "trace function": (3, "sys.settrace(FORGE)\n" + RET_R.replace("R()", "a - b"), T_EQ),
    "own audit hook": (2, "sys.addaudithook(FORGE)\n" + RET_R.replace("R()", "a - b"), T_EQ),
}


def _cases() -> list[tuple[str, str, str, str]]:
    """(callable, site, program, tests) for every pair whose arities fit."""
    out = []
    for (cname, (expr, arities)), (sname, (arity, body, tests)) in itertools.product(CALLABLES.items(),
                                                                                     SITES.items()):
        if arities is ANY or arity in arities:
            out.append((cname, sname, f"{PRELUDE}FORGE = {expr}\n{body}", tests))
    return out


CASES = _cases()


def test_the_matrix_covers_every_callable_and_every_site():
    assert {c for c, _, _, _ in CASES} == set(CALLABLES) and {s for _, s, _, _ in CASES} == set(SITES)
    assert len(CASES) >= 80


def test_no_callable_at_any_call_site_forges_a_pass(sandbox):
    require_full(sandbox)
    results = sandbox.run([Program(code=code, tests=tests) for _, _, code, tests in CASES])
    forged = [(c, s, r.status, r.detail) for (c, s, _, _), r in zip(CASES, results) if r.tests_passed]
    assert forged == []


@pytest.mark.parametrize("site", ["__eq__", "__del__", "weakref callback"])
def test_the_same_programs_pass_when_add_is_right(sandbox, site):
    # control: the harness still counts honest passes with these classes around
    require_full(sandbox)
    _, body, tests = SITES[site]
    code = f"{PRELUDE}FORGE = functools.partial(sys.audit, EV)\n{body}\ndef add(a, b):\n    return a + b\n"
    r = sandbox.run([Program(code=code, tests=tests)])[0]
    assert r.passed, r


def test_test_code_that_raises_the_event_itself_is_not_a_pass(sandbox):
    # the tests come from a model too: raising the event before an assert fails proves nothing
    require_full(sandbox)
    hostile = [f"assert ({PASS_NAME}({PASS_EVENT!r}), add(1, 2) == 3)[1]\n",
               f"{PASS_NAME}({PASS_EVENT!r})\nassert add(1, 2) == 3\n",
               f"if add(1, 2) != 3:\n    {PASS_NAME}({PASS_EVENT!r})\n    assert False\n"]
    results = sandbox.run([Program(code="def add(a, b):\n    return a - b\n", tests=t) for t in hostile])
    assert [r.tests_passed for r in results] == [0, 0, 0], results

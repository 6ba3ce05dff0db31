"""What counts as one test in an assert-style test block.

The block is split into its top-level statements. A statement that contains an
``assert`` (outside nested ``def``/``class``/``lambda``) is a *test*; every
other statement (imports, helpers, variables) is *setup* and runs in order
between them. Each unit runs on its own, so a failing test does not hide the
ones after it. A block without any ``assert`` (``raise``-style checks) is one
single test: it passes if the whole block runs without an exception.

``check(candidate)`` blocks (HumanEval): when the program has an entry point
and the block defines exactly one ``check`` function with one parameter, the
body of ``check`` is hoisted to the top level with ``candidate = <entry point>``
(or the name in a top-level ``check(name)`` call, which is dropped), so each of
its asserts counts separately. When that is not possible (``return`` or
``yield`` in the body, decorators, several checks) the block runs as written.
A block that mentions ``candidate`` without defining it gets
``candidate = <entry point>`` first.

The harness appends ``__synthkit_pass__("synthkit.pass")`` to each test's
compiled code; see ``synthkit.sandbox`` for why that proves the test ran.
The host splits (``unit_sources``: each unit as source, ``ast.unparse``) and
counts; the child only compiles those sources (``compile_sources``), so the
run pays no Python-level AST work.
"""

from __future__ import annotations

import ast
import opcode
from dataclasses import dataclass

PASS_NAME = "__synthkit_pass__"
PASS_EVENT = "synthkit.pass"
# the opcodes that call a callable (3.10: CALL_FUNCTION; 3.11+: CALL); the pass call is the last of them
_CALLS = frozenset(opcode.opmap[n] for n in ("CALL", "CALL_FUNCTION") if n in opcode.opmap)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_NOT_HOISTABLE = (ast.Return, ast.Yield, ast.YieldFrom, ast.Await, ast.Nonlocal, ast.Global)


@dataclass
class Unit:
    stmts: list[ast.stmt]
    is_test: bool


def split_tests(source: str, entry_point: str = "") -> list[Unit]:
    """The units of ``source`` in order. Raises SyntaxError if it does not parse."""
    tree = ast.parse(source)
    body = _hoist_check(tree.body, entry_point)
    if body is None:
        body = list(tree.body)
        if entry_point and _mentions(tree, "candidate") and not _binds(body, "candidate"):
            body.insert(0, _assign("candidate", entry_point))
    units = [Unit([s], _has_assert(s)) for s in body]
    if not any(u.is_test for u in units):
        return [Unit(body, True)] if body else []
    return units


def count_tests(source: str, entry_point: str = "") -> int:
    return sum(u.is_test for u in split_tests(source, entry_point))


def unit_sources(source: str, entry_point: str = "") -> list[list]:
    """``[source, is_test, first line]`` per unit (JSON-ready, for the child).

    A statement that has its lines to itself is sliced out of ``source`` as
    written (a hoisted ``check`` body line loses its indent); any other (one
    sharing a line, a multi-line one inside ``check``, the ``candidate``
    assignment the harness adds) goes through ``ast.unparse``, which is exact
    but costs about 0.2 ms a statement."""
    units = split_tests(source, entry_point)
    stmts = [s for u in units for s in u.stmts if not getattr(s, "synthetic", False)]
    spans = sorted((_first_line(s), s.end_lineno or s.lineno, id(s)) for s in stmts)
    alone = {key for i, (first, last, key) in enumerate(spans)
             if (i == 0 or spans[i - 1][1] < first) and (i + 1 == len(spans) or spans[i + 1][0] > last)}
    lines = None if any(c in source for c in _ODD_BREAKS) else source.split("\n")
    return [["".join(_text(s, lines, alone) for s in u.stmts), u.is_test, u.stmts[0].lineno] for u in units]


_ODD_BREAKS = "\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # str.splitlines and the parser disagree on these


def _first_line(stmt: ast.stmt) -> int:
    return min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])


def _text(stmt: ast.stmt, lines: list[str] | None, alone: set) -> str:
    """The statement's own source, sliced out when that is exact, else unparsed."""
    first, last = _first_line(stmt), stmt.end_lineno or stmt.lineno
    if lines is not None and id(stmt) in alone and (stmt.col_offset == 0 or first == last):
        text = "\n".join(lines[first - 1:last])
        if stmt.col_offset == 0 or text[:stmt.col_offset].isspace():
            return text[stmt.col_offset:] + "\n"
    return ast.unparse(stmt) + "\n"


def compile_sources(units: list) -> list[tuple[object, bool, int]]:
    """(code object, is_test, first line) per ``unit_sources`` entry; each test
    ends with the pass call, a statement of its own after the unit's last one."""
    out = []
    for source, is_test, line in units:
        if is_test:
            source = f"{source}\n{PASS_NAME}({PASS_EVENT!r})\n"
        # optimize=0: asserts are compiled in even if the interpreter runs with -O
        out.append((compile(source, "<tests>", "exec", dont_inherit=True, optimize=0), bool(is_test), int(line)))
    return out


def pass_offset(code) -> int:
    """The bytecode offset of the appended pass call in a test's code object
    (``frame.f_lasti`` while that call runs), or -1 if it has none. The pass
    statement is the code's last, so its call is the last call instruction;
    inline caches are zero bytes in ``co_code``, never a call opcode."""
    raw = code.co_code
    for offset in range(len(raw) - 2, -1, -2):
        if raw[offset] in _CALLS:
            return offset
    return -1


def compile_units(units: list[Unit]) -> list[tuple[object, bool, int]]:
    """``compile_sources`` for units from ``split_tests``."""
    return compile_sources([[ast.unparse(ast.Module(u.stmts, type_ignores=[])), u.is_test, u.stmts[0].lineno]
                            for u in units])


def _hoist_check(body: list[ast.stmt], entry_point: str) -> list[ast.stmt] | None:
    checks = [s for s in body if isinstance(s, ast.FunctionDef) and s.name == "check"]
    if not entry_point or len(checks) != 1:
        return None
    check = checks[0]
    args = check.args
    if (check.decorator_list or len(args.args) != 1 or args.vararg or args.kwarg
            or args.posonlyargs or args.kwonlyargs or _walk_any(check.body, _NOT_HOISTABLE)):
        return None
    target, calls = entry_point, []
    for s in body:
        if _is_call_of(s, "check"):
            call = s.value  # type: ignore[attr-defined]
            if len(call.args) != 1 or not isinstance(call.args[0], ast.Name) or call.keywords:
                return None
            target = call.args[0].id
            calls.append(s)
    rest = [s for s in body if s is not check and s not in calls]
    return rest + [_assign(args.args[0].arg, target, check.lineno)] + list(check.body)


def _is_call_of(stmt: ast.stmt, name: str) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == name)


def _assign(name: str, value: str, lineno: int = 1) -> ast.stmt:
    pos = {"lineno": lineno, "end_lineno": lineno, "col_offset": 0, "end_col_offset": 0}
    node = ast.Assign([ast.Name(name, ast.Store(), **pos)], ast.Name(value, ast.Load(), **pos), **pos)
    node.synthetic = True  # not in the source: unit_sources unparses it
    return node


def _children(node: ast.AST):
    """Child nodes, not descending into nested scopes."""
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, _SCOPES):
            yield child
            yield from _children(child)


def _has_assert(stmt: ast.stmt) -> bool:
    if isinstance(stmt, _SCOPES):
        return False
    return isinstance(stmt, ast.Assert) or any(isinstance(n, ast.Assert) for n in _children(stmt))


def _walk_any(stmts: list[ast.stmt], kinds: tuple) -> bool:
    for stmt in stmts:
        if isinstance(stmt, kinds) or (not isinstance(stmt, _SCOPES)
                                       and any(isinstance(n, kinds) for n in _children(stmt))):
            return True
    return False


def _mentions(tree: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(tree))


def _binds(body: list[ast.stmt], name: str) -> bool:
    for s in body:
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and s.name == name:
            return True
        if isinstance(s, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = s.targets if isinstance(s, ast.Assign) else [s.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
    return False

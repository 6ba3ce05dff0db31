"""Real, unrelated Python code for tests and benchmarks, and ways to disguise a copy.

``stdlib_functions(limit, modules)`` extracts function definitions (source
text, comments included) from the standard library's own ``.py`` files with
``ast``: real code, written by many people, unrelated to any benchmark.
The order is deterministic (modules in the given order, functions in source
order). Parsing costs ~10 ms per module; the default module list gives ~2,500
functions.

Disguises, applied to a benchmark solution to plant contamination:

- ``rename_identifiers``: every name the code binds (function, arguments,
  assigned locals, loop variables, imports-as) is renamed, via ``tokenize``, so
  strings, comments and attribute names are untouched, as a person renaming
  variables would do;
- ``reformat``: ``ast.unparse`` (new quotes, spacing, parentheses, no comments)
  re-indented with 2 spaces;
- ``add_comments``: a comment line above every other statement and a trailing
  comment on the others.

Near copies, as a synthesizer makes them from the same seed twice:
``near_copy`` renames one bound name throughout (``rename_one``) and adds one
comment line (``add_comment_line``); both keep the code parsing.
``plant_near_copies`` hides such copies among real functions, and
``token_similarity`` (difflib's ratio over the tokens with names kept) is the
yardstick for "is a removed row really like the row kept instead".

Nothing here executes the code it handles.
"""

from __future__ import annotations

import ast
import difflib
import io
import logging
import random
import re
import sysconfig
import tokenize
from pathlib import Path
from typing import Callable, Sequence

log = logging.getLogger(__name__)

DEFAULT_MODULES = (
    "argparse", "ast", "calendar", "configparser", "csv", "difflib", "email/message", "fractions",
    "ftplib", "gettext", "heapq", "http/cookiejar", "imaplib", "inspect", "ipaddress", "logging/__init__",
    "mailbox", "optparse", "pathlib", "pickle", "pydoc", "shutil", "smtplib", "statistics", "string",
    "tarfile", "textwrap", "turtle", "typing", "urllib/parse", "zipfile", "decimal", "_pydecimal",
    "datetime", "_pydatetime", "tkinter/__init__", "unittest/case", "xml/dom/minidom",
)


def stdlib_functions(limit: int | None = None, modules: Sequence[str] = DEFAULT_MODULES,
                     min_lines: int = 3) -> list[str]:
    """Source of functions (at least ``min_lines`` lines) from stdlib ``modules``."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out: list[str] = []
    for mod in modules:
        path = root / f"{mod}.py"
        if not path.exists():
            continue
        src = path.read_text(encoding="utf-8")
        lines = src.splitlines(keepends=True)
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = lines[node.lineno - 1:node.end_lineno]
                if len(body) >= min_lines:
                    out.append(_dedent("".join(body)))
                    if limit is not None and len(out) >= limit:
                        return out
    return out


def _dedent(code: str) -> str:
    lines = code.splitlines(keepends=True)
    indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
    return "".join(x[indent:] if x.strip() else x.lstrip(" \t") for x in lines)


def bound_names(code: str) -> list[str]:
    """Names the code binds (defs, arguments, assignment targets, imports-as), in order."""
    names: list[str] = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.arg):
            names.append(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        elif isinstance(node, ast.alias) and node.asname:
            names.append(node.asname)
    return list(dict.fromkeys(n for n in names if n not in ("self", "cls")))


def rename_identifiers(code: str, seed: int = 0) -> str:
    """Rename every bound name (see the module doc); strings and comments stay."""
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "omega", "kappa", "sigma", "theta", "zeta", "lam"]
    mapping = {n: f"{rng.choice(words)}_{i}" for i, n in enumerate(bound_names(code))}
    edits: list[tuple[int, int, int, str]] = []   # (line, start col, end col, new name)
    prev = None
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.NAME and tok.string in mapping and prev != ".":
            edits.append((tok.start[0], tok.start[1], tok.end[1], mapping[tok.string]))
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            prev = tok.string
    lines = code.splitlines(keepends=True)
    for row, start, end, new in reversed(edits):  # right to left keeps columns valid
        line = lines[row - 1]
        lines[row - 1] = line[:start] + new + line[end:]
    return "".join(lines)


def reformat(code: str) -> str:
    """``ast.unparse`` (drops comments, normalises quotes and spacing), 2-space indents."""
    text = ast.unparse(ast.parse(code))
    return "\n".join(_reindent(line) for line in text.splitlines()) + "\n"


def _reindent(line: str) -> str:
    stripped = line.lstrip(" ")
    return " " * ((len(line) - len(stripped)) // 2) + stripped


_COMMENTS = ("keep this simple", "edge case first", "see the notes above", "TODO: tidy later",
             "loop over the input", "cheap check", "as discussed", "mirror the spec")


def add_comments(code: str, seed: int = 0) -> str:
    """A comment line above every other statement line, a trailing one on the rest."""
    rng = random.Random(seed)
    out = []
    in_string = False
    for i, line in enumerate(code.splitlines()):
        quotes = line.count('"""') + line.count("'''")
        stripped = line.strip()
        plain = stripped and not in_string and quotes == 0 and not stripped.startswith("#") \
            and not stripped.endswith("\\")
        if plain and i % 2 == 0:
            indent = line[:len(line) - len(line.lstrip())]
            out.append(f"{indent}# {rng.choice(_COMMENTS)}")
            out.append(line)
        elif plain and re.search(r"[\"']", line) is None:
            out.append(f"{line}  # {rng.choice(_COMMENTS)}")
        else:
            out.append(line)
        if quotes % 2 == 1:
            in_string = not in_string
    return "\n".join(out) + "\n"


def rename_one(code: str, seed: int = 0) -> str | None:
    """One bound name (chosen by ``seed``) renamed everywhere it is a name;
    None when the code binds none or does not parse."""
    try:
        names = bound_names(code)
    except SyntaxError:
        return None
    if not names:
        return None
    rng = random.Random(seed)
    old = rng.choice(names)
    new = rng.choice([f"{old}_value", f"new_{old}", f"item{rng.randrange(100)}", "result_x"])
    edits, prev = [], None
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.NAME and tok.string == old and prev != ".":
            edits.append((tok.start[0], tok.start[1], tok.end[1]))
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            prev = tok.string
    lines = code.splitlines(keepends=True)
    for row, start, end in reversed(edits):
        lines[row - 1] = lines[row - 1][:start] + new + lines[row - 1][end:]
    return "".join(lines)


def add_comment_line(code: str, seed: int = 0) -> str:
    """One comment line inserted before a line that starts outside any string
    (so the code still parses), indented like that line."""
    starts = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type in (tokenize.NEWLINE, tokenize.NL):
                starts.append(tok.end[0] + 1)
    except (tokenize.TokenError, SyntaxError):
        pass
    lines = code.splitlines(keepends=True)
    starts = [s for s in starts if 2 <= s <= len(lines)] or [len(lines) + 1]
    rng = random.Random(seed)
    at = rng.choice(starts)
    nxt = lines[at - 1] if at <= len(lines) else ""
    indent = nxt[:len(nxt) - len(nxt.lstrip())] if nxt.strip() else ""
    return "".join(lines[:at - 1]) + f"{indent}# {rng.choice(_COMMENTS)}\n" + "".join(lines[at - 1:])


def near_copy(code: str, seed: int = 0) -> str | None:
    """``rename_one`` then ``add_comment_line``; None when nothing can be renamed."""
    renamed = rename_one(code, seed)
    return None if renamed is None else add_comment_line(renamed, seed)


def plant_near_copies(functions: Sequence[str], n: int, seed: int = 0,
                      make: Callable[[str, int], str | None] = near_copy) -> tuple[list[str], list[tuple[int, int]]]:
    """``functions`` followed by ``n`` copies of random ones by ``make(code, seed)`` (None, or
    the code unchanged, is drawn again): (rows, [(original, copy) positions])."""
    rng = random.Random(seed)
    rows, pairs = list(functions), []
    while len(pairs) < n:
        i = rng.randrange(len(functions))
        copy = make(functions[i], rng.randrange(1 << 30))
        if copy is not None and copy != functions[i]:
            pairs.append((i, len(rows)))
            rows.append(copy)
    return rows, pairs


def _raw_tokens(code: str) -> list[str]:
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                                tokenize.ENDMARKER):
                out.append(tok.string)
    except (tokenize.TokenError, SyntaxError):
        return code.split()
    return out


def token_similarity(a: str, b: str) -> float:
    """difflib's ratio between the two codes' tokens (names kept; comments and layout dropped)."""
    return difflib.SequenceMatcher(None, _raw_tokens(a), _raw_tokens(b), autojunk=False).ratio()

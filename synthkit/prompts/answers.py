"""What every parser of model answers shares: ``ParseError``, the code-fence pattern, ``extract_code``.

A parser never raises on a bad answer: it returns ``ParseError(reason, detail)``, which
a stage turns into a rejection with that reason.

``extract_code(text, entry_point=None) -> str | None`` (pure text work, never runs code):

1. **Fenced blocks** (python, py, untagged, ``~~~``; an unclosed last fence runs to the
   end; other languages ignored). With ``entry_point``: the last block defining it, after
   earlier definition-only blocks. Otherwise one block is the code; several: the
   definition-only ones joined, else the longest that parses. Unparseable blocks only
   when none parses.
2. **No fence**: the whole text, if it parses and holds a real statement.

Returns None when there is no code.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass


@dataclass
class ParseError:
    """Why an answer could not be read: a snake_case ``reason`` (counted in
    stats) and a human ``detail``."""

    reason: str
    detail: str = ""


MAX_CHARS = 40_000  # a longer answer is runaway generation, not an exercise or a score

PYTHON_TAGS = {"", "python", "py", "python3", "py3", "python2", "pycon", "ipython"}
# A fence line: indentation, the marker (``` or ~~~, 3 or more), an optional language tag.
FENCE = re.compile(r"^([ \t]*)(`{3,}|~{3,})[ \t]*([\w+.#-]*)[^\n]*$", re.M)


def extract_code(text: str, entry_point: str | None = None) -> str | None:
    """The code in ``text`` (see the module doc), or None."""
    if not isinstance(text, str) or not text.strip():
        return None
    blocks = fenced_blocks(text)
    if blocks is None:
        return text.strip() + "\n" if _looks_like_code(text) else None
    blocks = [b for b in blocks if b.strip()]
    if not blocks:
        return None
    parsed = [(b, t) for b in blocks if (t := _parse(b)) is not None]
    if entry_point and parsed:
        defining = [i for i, (_, t) in enumerate(parsed) if _defines(t, entry_point)]
        if defining:
            last = defining[-1]
            helpers = [b for b, t in parsed[:last] if _only_definitions(t)]
            return _join(helpers + [parsed[last][0]])
    if len(parsed) == 1:
        return _join([parsed[0][0]])
    if parsed:
        defs = [b for b, t in parsed if _only_definitions(t)]
        return _join(defs) if defs else _join([max((b for b, _ in parsed), key=len)])
    return _join([blocks[-1]])


def fenced_blocks(text: str) -> list[str] | None:
    """Contents of the Python (or untagged) fenced blocks, in order; None if
    ``text`` has no fence at all."""
    fences = list(FENCE.finditer(text))
    if not fences:
        return None
    out, i = [], 0
    while i < len(fences):
        opening = fences[i]
        marker, tag = opening.group(2), opening.group(3).lower()
        close = next((j for j in range(i + 1, len(fences))
                      if fences[j].group(2)[0] == marker[0] and len(fences[j].group(2)) >= len(marker)
                      and not fences[j].group(3)), None)
        end = fences[close].start() if close is not None else len(text)
        if tag in PYTHON_TAGS:
            body = text[opening.end() + 1: end] if opening.end() < len(text) else ""
            out.append(textwrap.dedent(body))
        i = close + 1 if close is not None else len(fences)
    return out


def _join(blocks: list[str]) -> str:
    return "\n\n".join(b.strip("\n") for b in blocks).rstrip() + "\n"


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _defines(tree: ast.Module, name: str) -> bool:
    return any(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and s.name == name
               for s in tree.body)


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom,
                ast.Assign, ast.AnnAssign)


def _only_definitions(tree: ast.Module) -> bool:
    body = [s for s in tree.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return bool(body) and all(isinstance(s, _DEFINITIONS) for s in body)


def _looks_like_code(text: str) -> bool:
    tree = _parse(text)
    if tree is None:
        return False
    return any(not (isinstance(s, ast.Expr) and isinstance(s.value, (ast.Name, ast.Constant)))
               for s in tree.body)

"""Realistic renames of real code, and the yardsticks of dedup on them (bench and tests).

- ``functions(limit)``: function definitions from the standard library's own
  ``.py`` files (real code by many people), in a fixed order.
- ``realistic_rename(code, seed)``: what a person or a synthesizer does to a
  copy. One to three names, drawn from the function's name, its parameters and
  locals, and the attributes it reads on ``self``/``cls``, are renamed in every
  place they occur as names (``.old`` for an attribute), inside f-strings
  always, and inside the other strings (messages, docstrings) with
  probability 0.7; new names come in several styles (suffix, prefix, camel
  case, abbreviation, an unrelated word). Then one comment line is added.
- ``plant(functions, n, seed)``: the functions plus ``n`` renamed copies.
- ``code_shingles`` / ``quality``: a removed clean row is a false removal
  when its code (docstrings and comments left out) shares less than half of
  its word 5-grams with the row kept instead of it (or with any kept row).

Nothing here executes the code it handles.
"""

from __future__ import annotations

import ast
import builtins
import io
import random
import re
import sys
import sysconfig
import tokenize
from collections import Counter
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/helpers (see its __init__)
from helpers.corpus import add_comment_line, plant_near_copies  # noqa: E402  (one copy: the planted-copies corpus uses it too)

MODULES = ("argparse", "ast", "calendar", "configparser", "csv", "difflib", "email/message", "fractions",
           "ftplib", "gettext", "heapq", "http/cookiejar", "imaplib", "inspect", "ipaddress", "logging/__init__",
           "mailbox", "optparse", "pathlib", "pickle", "pydoc", "shutil", "smtplib", "statistics", "string",
           "tarfile", "textwrap", "turtle", "typing", "urllib/parse", "zipfile", "_pydecimal", "datetime",
           "tkinter/__init__", "unittest/case", "xml/dom/minidom", "subprocess", "threading", "enum",
           "collections/__init__", "functools", "dataclasses", "json/decoder", "json/encoder", "locale",
           "sre_parse", "tempfile", "traceback", "uuid", "wave", "zipfile", "platform", "plistlib", "poplib",
           "netrc", "mimetypes", "shlex", "sched", "selectors", "socketserver", "ssl", "sunau", "tabnanny")
_WORDS = ("buffer", "data", "value", "item", "result", "tmp", "entry", "node", "obj", "count", "idx", "text",
          "key", "parts", "acc", "out", "res", "total", "current", "target", "source", "payload", "chunk")


def all_modules() -> list[str]:
    """Every module of the standard library (tests and site-packages left out), sorted."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "idle_test", "site-packages", "lib2to3", "__pycache__"}
    return [str(p.relative_to(root))[:-3] for p in sorted(root.rglob("*.py")) if not skip & set(p.parts)]


def functions(limit: int | None = None, modules: Sequence[str] | None = MODULES, min_lines: int = 3) -> list[str]:
    """Source of stdlib functions of at least ``min_lines`` lines, dedented, in a fixed order
    (``modules=None``: the whole standard library)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    modules = all_modules() if modules is None else modules
    out: list[str] = []
    for mod in dict.fromkeys(modules):
        path = root / f"{mod}.py"
        if not path.exists():
            continue
        try:
            src = path.read_text(encoding="utf-8")
            tree = ast.parse(src)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        lines = src.splitlines(keepends=True)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 >= min_lines:
                body = "".join(lines[node.lineno - 1:node.end_lineno])
                indent = min((len(x) - len(x.lstrip()) for x in body.splitlines() if x.strip()), default=0)
                code = "".join(x[indent:] if x.strip() else "\n" for x in body.splitlines(keepends=True))
                try:
                    ast.parse(code)
                except SyntaxError:
                    continue
                out.append(code)
                if limit is not None and len(out) >= limit:
                    return out
    return out


def candidates(code: str) -> list[tuple[str, bool]]:
    """``(name, is_attribute)`` a rename may pick: the function, parameters, locals, self attributes."""
    names: list[tuple[str, bool]] = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.append((node.name, False))
        elif isinstance(node, ast.arg) and node.arg not in ("self", "cls"):
            names.append((node.arg, False))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append((node.id, False))
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id in ("self", "cls") and not node.attr.startswith("__")):
            names.append((node.attr, True))
    return list(dict.fromkeys(n for n in names if n[0] != "_" and not n[0].startswith("__")))


def attribute_candidates(code: str) -> list[tuple[str, bool]]:
    """``candidates`` plus every attribute read on anything (``self.conn.timeout``,
    ``os.path``): a rename of an attribute across a code base."""
    attrs = [(n.attr, True) for n in ast.walk(ast.parse(code))
             if isinstance(n, ast.Attribute) and not n.attr.startswith("_")]
    return list(dict.fromkeys(candidates(code) + attrs))


def free_name_candidates(code: str) -> list[tuple[str, bool]]:
    """``candidates`` plus the names the function reads but does not bind (globals, modules,
    the helpers it calls; builtins left out): a copy that also renames what it calls."""
    tree = ast.parse(code)
    bound = {a for a, attr in candidates(code) if not attr}
    free = [(n.id, False) for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
            and n.id not in bound and n.id not in dir(builtins) and n.id not in ("self", "cls")]
    return list(dict.fromkeys(candidates(code) + free))


def _new_name(old: str, rng: random.Random, taken: set[str]) -> str:
    camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), old.strip("_")) or "x"
    for _ in range(20):
        style = rng.randrange(6)
        new = (f"{old}_value", f"new_{old}", camel + "Val" if camel == old else camel,
               old[:3] + str(rng.randrange(10)) if len(old) > 4 else old + "_",
               rng.choice(_WORDS), f"{rng.choice(_WORDS)}{rng.randrange(100)}")[style]
        if new.isidentifier() and new not in taken:
            return new
    return f"{old}_{rng.randrange(1 << 20)}"


def realistic_rename(code: str, seed: int = 0, pick=candidates) -> str | None:
    """One to three names renamed (see the module doc; ``pick`` lists what may be) and one
    comment line; None if nothing to rename or the code does not parse."""
    rng = random.Random(seed)
    try:
        cands = pick(code)
    except SyntaxError:
        return None
    if not cands:
        return None
    chosen = rng.sample(cands, min(len(cands), rng.choice((1, 1, 2, 3))))
    taken = set(re.findall(r"\w+", code))
    plan = {}
    for old, attr in chosen:
        new = _new_name(old, rng, taken)
        taken.add(new)
        plan[(old, attr)] = new
    lines = code.splitlines(keepends=True)
    offset = [0]
    for line in lines:
        offset.append(offset[-1] + len(line))
    edits, prev = [], None
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        text = tok.string
        if tok.type == tokenize.NAME and (text, prev == ".") in plan:
            text = plan[(text, prev == ".")]
        elif tok.type == tokenize.STRING:
            fstring = tok.string.lstrip("rRbBuU")[:1] in "fF"
            for (old, _), new in plan.items():
                if fstring or rng.random() < 0.7:
                    text = re.sub(rf"\b{re.escape(old)}\b", new, text)
        if text != tok.string:
            edits.append((offset[tok.start[0] - 1] + tok.start[1], offset[tok.end[0] - 1] + tok.end[1], text))
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            prev = tok.string
    for start, end, text in reversed(edits):  # right to left keeps offsets valid
        code = code[:start] + text + code[end:]
    return add_comment_line(code, seed)


def plant(funcs: Sequence[str], n: int, seed: int = 0) -> tuple[list[str], list[tuple[int, int]]]:
    """``funcs`` followed by ``n`` renamed copies of random ones: (rows, [(original, copy) positions])."""
    return plant_near_copies(funcs, n, seed, make=realistic_rename)


def code_shingles(code: str, n: int = 5) -> set[tuple[str, ...]]:
    """Word ``n``-grams of the code with comments and docstrings (strings alone on their line) left out."""
    kept, pending, prev = [], None, tokenize.NEWLINE
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.ENCODING):
                continue
            if tok.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
                pending, prev = None, tokenize.NEWLINE
                continue
            if pending is not None:
                kept.append(pending)
                pending = None
            if tok.type == tokenize.STRING and prev == tokenize.NEWLINE:
                pending = tok.string
            else:
                kept.append(tok.string)
            prev = tok.type
    except (tokenize.TokenError, SyntaxError):
        kept = [code]
    words = re.findall(r"\w+", " ".join(kept).lower())
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def quality(rows: Sequence[str], pairs: Sequence[tuple[int, int]], n_clean: int, cluster, rep) -> dict:
    """Recall of the planted pairs, the share of clean rows removed, and the false removals:
    a clean row removed whose code shares < half its word 5-grams with the row kept instead
    (``false_removals``), or with every kept row (``false_removals_any``, never more)."""
    recall = sum(cluster[i] == cluster[j] for i, j in pairs) / max(1, len(pairs))
    removed = [k for k in range(n_clean) if rep[k] != k]
    false = []
    for k in removed:
        mine = code_shingles(rows[k])
        if mine and len(mine & code_shingles(rows[int(rep[k])])) < 0.5 * len(mine):
            false.append(k)
    index: dict[tuple, list[int]] = {}
    if false:  # who shares what, among the kept rows
        for k in (k for k in range(len(rows)) if rep[k] == k):
            for sh in code_shingles(rows[k]):
                index.setdefault(sh, []).append(k)
    false_any = []
    for k in false:
        mine = code_shingles(rows[k])
        shared = Counter(j for sh in mine for j in index.get(sh, ()))
        if max(shared.values(), default=0) < 0.5 * len(mine):
            false_any.append(k)
    return {"recall": recall, "clean_removed": len(removed) / max(1, n_clean),
            "false_removals": len(false) / max(1, n_clean), "false_removals_any": len(false_any) / max(1, n_clean),
            "false_rows": false}

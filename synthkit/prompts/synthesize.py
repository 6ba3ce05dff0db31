"""Prompt for `synthesize`: seed snippet -> problem, reference solution, tests.

OSS-Instruct style (the seed is inspiration), with a one-shot example (small
synthesizers follow a shown format); ``{seed}`` is the only placeholder
(``str.replace``). ``parse_synthesis`` reads the answer's ``[Problem]``,
``[Entry Point]``, ``[Solution]`` (prose and one python block) and ``[Tests]``
(asserts) sections, headers only on their own line and outside code fences; a
repeated header ends the answer. It never raises: a failure is a ``ParseError``
whose reason (empty, too_long, no_problem, no_solution, no_tests,
unterminated_fence, truncated, solution_syntax_error, no_entry_point,
entry_point_not_defined, tests_syntax_error, tests_do_not_call_entry_point) the
stage counts. An answer cut by ``max_tokens`` keeps its complete assert lines; test
statements that rebind the entry point are dropped. Change prompt and parser
together. Details: docs/methods/scoder.md.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from synthkit.prompts.answers import FENCE, MAX_CHARS, ParseError

# One worked answer, shared by both prompt styles (for a different snippet than the seed).
EXAMPLE = """\
[Problem]
Write a function `count_vowels(text)` that returns how many vowels (a, e, i, o, u, upper or lower case) \
the string `text` contains.

[Entry Point]
count_vowels

[Solution]
```python
def count_vowels(text):
    return sum(1 for ch in text.lower() if ch in "aeiou")
```

[Tests]
```python
assert count_vowels("") == 0
assert count_vowels("Hello") == 2
assert count_vowels("AEIOU xyz") == 5
```
"""

TEMPLATE = """\
You write Python programming exercises. Use the code snippet below as inspiration for a NEW, \
self-contained exercise. Do not copy the snippet. The exercise must need only standard Python \
(no files, network, or third-party packages).

Answer in exactly this format, with the four sections in this order:

[Problem]
<what the function must do, its inputs and its output>

[Entry Point]
<the function name>

[Solution]
```python
<a correct reference implementation>
```

[Tests]
```python
<3 to 6 assert statements that call the function>
```

Example answer (for a different snippet):

""" + EXAMPLE + """
Code snippet:
```python
{seed}
```

Now write the new exercise in the same format."""


# Completion style, for small or base models that do not follow instructions:
# a few-shot document whose last exercise is left open after its first header.
# The model continues the pattern; the caller prepends PREFIX to the answer and
# stops at the next "Code snippet:".
PREFIX = "[Problem]\n"
STOP = ("\nCode snippet:",)

FEW_SHOT = """\
Python exercises. Each one is a new, self-contained exercise inspired by a code snippet, \
with a reference solution and tests.

Code snippet:
```python
def _strip_accents(word):
    return "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))
```

""" + EXAMPLE + """
Code snippet:
```python
def merge(self, other):
    for key, value in other.items():
        self[key] = self.get(key, 0) + value
```

[Problem]
Write a function `merge_counts(a, b)` that takes two dicts mapping words to counts and returns a new \
dict with the summed counts of both.

[Entry Point]
merge_counts

[Solution]
```python
def merge_counts(a, b):
    result = dict(a)
    for key, value in b.items():
        result[key] = result.get(key, 0) + value
    return result
```

[Tests]
```python
assert merge_counts({}, {}) == {}
assert merge_counts({"a": 1}, {"a": 2, "b": 1}) == {"a": 3, "b": 1}
```

Code snippet:
```python
{seed}
```

""" + PREFIX


def render(seed: str, template: str = TEMPLATE, max_seed_chars: int = 4000) -> str:
    """The user message for one seed; over-long seeds are cut at a line end."""
    if len(seed) > max_seed_chars:
        seed = seed[:max_seed_chars].rsplit("\n", 1)[0]
    return template.replace("{seed}", seed)


# --- reading the answer -----------------------------------------------------------

_HEADER = re.compile(r"^\s*(?:#{1,6}\s*)?(?:\*\*)?\[\s*(problem|entry[ _-]?point|solution|tests?)\s*\]"
                     r"(?:\*\*)?\s*:?[ \t]*(.*)$", re.IGNORECASE)
_IDENT = re.compile(r"[A-Za-z_]\w*")


@dataclass
class Synthesis:
    instruction: str
    response: str
    code: str
    tests: str
    entry_point: str


@dataclass
class Sections:
    text: dict[str, str] = field(default_factory=dict)           # section -> raw text
    blocks: dict[str, list[str]] = field(default_factory=dict)   # section -> fenced block bodies
    unterminated: bool = False                                   # the answer ends inside a fence


def _canon(name: str) -> str:
    name = name.lower()
    return "entry_point" if name.startswith("entry") else ("tests" if name.startswith("test") else name)


def split_sections(text: str) -> Sections:
    """Split ``text`` at ``[Name]`` headers outside code fences (see module doc)."""
    out = Sections()
    current: str | None = None
    lines: list[str] = []
    fence: str | None = None        # the opening fence marker while inside a block
    block: list[str] = []

    def flush() -> None:
        if current is not None:
            out.text[current] = "\n".join(lines).strip()

    for line in text.split("\n"):
        m = FENCE.match(line)
        if fence is not None:
            if m and m.group(2)[0] == fence[0] and len(m.group(2)) >= len(fence) \
                    and not line.strip().lstrip(fence[0]):
                fence = None
                if current is not None:
                    out.blocks.setdefault(current, []).append("\n".join(block))
            else:
                block.append(line)
        elif m:
            fence, block = m.group(2), []
        else:
            h = _HEADER.match(line)
            if h:
                name = _canon(h.group(1))
                if name in out.text or name == current:
                    break               # a second answer starts: ignore the rest
                flush()
                current, lines = name, [h.group(2)] if h.group(2).strip() else []
                out.text.setdefault(current, "")
                continue
        lines.append(line)
    else:
        out.unterminated = fence is not None
    flush()
    return out


def _parse(src: str) -> ast.Module | None:
    try:
        return ast.parse(src)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # ValueError: NUL bytes
        return None


def _top_level_functions(tree: ast.Module) -> list[str]:
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _calls(tree: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
               for n in ast.walk(tree))


def _binds(stmt: ast.stmt, name: str) -> bool:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return stmt.name == name
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return any((a.asname or a.name.split(".")[0]) == name for a in stmt.names)
    targets = stmt.targets if isinstance(stmt, ast.Assign) else \
        [stmt.target] if isinstance(stmt, (ast.AnnAssign, ast.AugAssign, ast.For, ast.With)) else []
    return any(isinstance(n, ast.Name) and n.id == name for t in targets if t is not None
               for n in ast.walk(t))


def clean_tests(raw: str, entry_point: str) -> str | ParseError:
    """The test block minus statements that rebind ``entry_point``. A block that
    does not parse falls back to its ``assert`` lines that parse one by one."""
    tree = _parse(raw)
    if tree is None:
        kept = [ln.strip() for ln in raw.split("\n")
                if ln.strip().startswith("assert") and _parse(ln.strip()) is not None]
        if not kept:
            return ParseError("tests_syntax_error", "the tests block does not parse and has no valid assert line")
        tree, raw = ast.parse("\n".join(kept)), "\n".join(kept)
    parts = [ast.get_source_segment(raw, s) or "" for s in tree.body if not _binds(s, entry_point)]
    if not any(isinstance(n, ast.Assert) for n in ast.walk(tree)):
        return ParseError("no_tests", "no assert statement in [Tests]")
    tests = "\n".join(p for p in parts if p).strip()
    cleaned = _parse(tests)
    if cleaned is None or not any(isinstance(n, ast.Assert) and _calls(n, entry_point)
                                  for n in ast.walk(cleaned)):
        return ParseError("tests_do_not_call_entry_point", f"no assert calls {entry_point}()")
    return tests


def _entry_point(secs: Sections, code_tree: ast.Module, tests_raw: str) -> str | ParseError:
    defined = _top_level_functions(code_tree)
    if not defined:
        return ParseError("entry_point_not_defined", "the solution defines no top-level function")
    named = _IDENT.search(secs.text.get("entry_point", "").replace("`", ""))
    if named:
        name = named.group(0)
        if name not in defined:
            return ParseError("entry_point_not_defined", f"[Entry Point] names '{name}', not defined in the solution")
        return name
    tests_tree = _parse(tests_raw)
    called = [f for f in defined if tests_tree is not None and _calls(tests_tree, f)]
    if called:
        return called[-1]
    return ParseError("no_entry_point", "no [Entry Point] and the tests call no function of the solution")


def _tests_text(secs: Sections) -> str:
    blocks = secs.blocks.get("tests")
    return "\n".join(blocks) if blocks else secs.text.get("tests", "")


def parse_synthesis(text: object, finish_reason: str = "stop", max_chars: int = MAX_CHARS) -> Synthesis | ParseError:
    """Turn a synthesis answer into its fields, or say why it cannot be used."""
    from synthkit.prompts.answers import extract_code

    if not isinstance(text, str) or not text.strip():
        return ParseError("empty", "the answer is empty")
    if len(text) > max_chars:
        return ParseError("too_long", f"{len(text)} chars > {max_chars}")
    text = text.replace("\r\n", "\n").replace("\x00", "")
    truncated = finish_reason == "length"
    if truncated:  # the last line was cut mid-way; every earlier line is complete
        text = text[: text.rfind("\n")] if "\n" in text else ""
    secs = split_sections(text)
    problem = secs.text.get("problem", "").strip()
    if not problem:
        return ParseError("truncated" if truncated else "no_problem", "no [Problem] section or it is empty")
    if not secs.text.get("solution", "").strip():
        return ParseError("truncated" if truncated else "unterminated_fence" if secs.unterminated else "no_solution",
                          "no [Solution] section with code")
    if "tests" not in secs.text:
        if truncated:
            return ParseError("truncated", "generation hit max_tokens before the [Tests] section")
        if secs.unterminated:
            return ParseError("unterminated_fence", "the answer ends inside a code block")
        return ParseError("no_tests", "no [Tests] section")
    solution = secs.text["solution"]
    code = extract_code(solution)
    tree = _parse(code) if code else None
    if tree is None:
        return ParseError("solution_syntax_error", "no parseable Python code in [Solution]")
    tests_raw = _tests_text(secs)
    ep = _entry_point(secs, tree, tests_raw)
    if isinstance(ep, ParseError):
        return ep
    tests = clean_tests(tests_raw, ep)
    if isinstance(tests, ParseError):
        return tests
    response = solution
    if ep not in problem:
        problem += f"\n\nWrite a Python function `{ep}` that solves this."
    return Synthesis(problem, response, code, tests, ep)

"""Prompts of GiFT's chain (arXiv 2502.11466) and of RFT+RD, beside their parsers.

- **code**: a description -> one solution; the default prompt ends with the seed's
  function header (``render_header``: imports, signature, a docstring holding the
  current description), as the reference code does. Placeholders ``{header}``,
  ``{description}``, ``{entry_point}``, ``{instruction}`` (the seed description).
  ``code_body`` cuts a code's header off (perplexity is the body's, given it).
- **summary**: a solution (docstrings stripped, ``strip_docstrings``) -> a new
  description; placeholders ``{code}`` and ``{entry_point}``.
Each in two styles (chat, completion: a one-shot document ending inside an opened
section, cut by ``CODE_STOP`` / ``SUMMARY_STOP``). Placeholders use ``str.replace``.
``parse_code`` / ``parse_summary`` never raise: they return the text or a
``ParseError`` (``no_code``, ``empty_summary``). Details: docs/methods/gift.md.
"""

from __future__ import annotations

import ast
import re

from synthkit.prompts.answers import FENCE, ParseError, extract_code

NO_ENTRY = "(none: a program that reads standard input and writes standard output)"

CODE_CHAT = ("Complete the following Python code. Reply with the complete code, including the imports it "
             "needs, in one ```python code block.\n\n```python\n{header}```")

SUMMARY_CHAT = ("Here is a Python solution to a programming task. Write the task it solves, as a plain-text "
                "problem statement: what the function `{entry_point}` takes and what it returns, with its name "
                "and parameters. Reply with the task only, without any code.\n\n```python\n{code}\n```")

_EXAMPLE_CODE = '''def count_vowels(text):
    return sum(1 for ch in text.lower() if ch in "aeiou")'''
_EXAMPLE_DESCRIPTION = ("Write a function `count_vowels(text)` that returns how many vowels (a, e, i, o, u, upper or "
                        "lower case) the string `text` contains.")

_EXAMPLE_HEADER = 'def count_vowels(text):\n    """' + _EXAMPLE_DESCRIPTION + '\n    """\n'
CODE_COMPLETION = ("### Solution\n```python\n" + _EXAMPLE_HEADER + _EXAMPLE_CODE.split("\n", 1)[1] + "\n```\n\n"
                   "### Solution\n```python\n{header}")
CODE_STOP = ("```", "\n### ", "\nif __name__", "\nassert ", "\nprint(")  # the reference cuts at top-level code too

SUMMARY_COMPLETION = ("### Code\n```python\n" + _EXAMPLE_CODE + "\n```\n\n### Description\n" + _EXAMPLE_DESCRIPTION
                      + "\n\n### Code\n```python\n{code}\n```\n\n### Description\n")
SUMMARY_STOP = ("\n### ", "```", "\n\n\n")

MAX_DESCRIPTION_CHARS = 4000   # a longer summary is cut at a line end: runaway text, not a task


def code_template(style: str) -> str:
    return CODE_COMPLETION if style == "completion" else CODE_CHAT


def summary_template(style: str) -> str:
    return SUMMARY_COMPLETION if style == "completion" else SUMMARY_CHAT


def as_prompt(text: str, style: str):
    """``text`` as the backend's prompt: the string itself, or one user message."""
    return text if style == "completion" else [{"role": "user", "content": text}]


def render_code(template: str, description: str, entry_point: str | None, instruction: str = "",
                header: str = "") -> str:
    return (template.replace("{header}", header).replace("{description}", description.strip())
            .replace("{entry_point}", entry_point or NO_ENTRY)
            .replace("{instruction}", instruction.strip()))


def render_summary(template: str, code: str, entry_point: str | None) -> str:
    return template.replace("{code}", strip_docstrings(code).strip("\n")).replace("{entry_point}",
                                                                                  entry_point or "main")


def parse_code(text: str, style: str, entry_point: str | None = None, header: str = "") -> str | ParseError:
    """The code of an answer to the code prompt. A completion continues the
    prompt's opened fence and its ``header`` (the code the prompt ends with),
    so both are put back before extraction, unless the answer itself defines
    ``entry_point`` at its top level (a model that started over)."""
    if not isinstance(text, str) or not text.strip():
        return ParseError("no_code", "empty answer")
    if style == "completion":
        own = extract_code("```python\n" + text, entry_point=entry_point)
        restarted = bool(own and entry_point and _DEF(entry_point).search(own))
        text = "```python\n" + ("" if restarted else header) + text
    code = extract_code(text, entry_point=entry_point)
    return code if code else ParseError("no_code", "no Python code in the answer")


def _DEF(name: str) -> re.Pattern:
    return re.compile(rf"^(?:async\s+)?def\s+{re.escape(name)}\s*\(", re.M)


def function_header(code: str | None, entry_point: str | None) -> tuple[list[str], str] | None:
    """(import statements, signature) of the top-level function ``entry_point``
    in ``code`` (a seed solution, or a seed prompt that is code), or None when
    ``code`` does not parse or define it. Other top-level code (constants,
    helper functions) is not part of the header."""
    if not (isinstance(code, str) and entry_point):
        return None
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    imports = [ast.get_source_segment(code, n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    lines = code.splitlines()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            body = node.body[0]
            sig = lines[first:body.lineno - 1]
            if body.lineno == node.lineno or not sig:   # def f(x): return x
                sig = lines[first:body.lineno - 1] + [lines[body.lineno - 1][:body.col_offset]]
            return [i for i in imports if i], "\n".join(sig).rstrip()
    return None


def first_test_doctest(tests: str | None) -> str | None:
    """The first ``assert`` of ``tests`` as a doctest, as the reference's MBPP
    prompt has it: ``assert f(x) == y`` gives ``>>> f(x)`` / ``y``, any other
    assert ``>>> <condition>`` / ``True``. None without a parseable assert."""
    if not isinstance(tests, str):
        return None
    try:
        tree = ast.parse(tests)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    node = next((n for n in ast.walk(tree) if isinstance(n, ast.Assert)), None)
    if node is None:
        return None
    t = node.test
    if isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq):
        return f">>> {ast.unparse(t.left)}\n{ast.unparse(t.comparators[0])}"
    return f">>> {ast.unparse(t)}\nTrue"


def render_header(parts: tuple[list[str], str] | None, description: str, doctest: str | None = None) -> str:
    """The code prompt's header: the imports, the signature, and a docstring
    holding ``description`` (and ``doctest``); it ends with a newline, so the
    model goes on with the body. Without a function (``parts`` None, e.g. a
    program that reads stdin) a module docstring alone."""
    text = description.strip().replace('"""', "'''")
    if doctest:
        text += "\n" + doctest
    quote = ('r"""' if "\\" in text else '"""')
    if parts is None:
        return f'{quote}{text}\n"""\n'
    imports, signature = parts
    indent = "    "   # a top-level function's body
    doc = "\n".join(indent + line if line.strip() else "" for line in text.splitlines())
    head = "".join(i + "\n" for i in imports) + ("\n" if imports else "")
    return f'{head}{signature}\n{indent}{quote}{doc.lstrip()}\n{indent}"""\n'


def task_header(task: dict, description: str) -> str:
    """The function header of a task row holding ``description``: imports and signature from the
    seed solution (``code``), else from the seed prompt (``seed``) when that is code; for MBPP tasks
    (``meta.source: mbpp``) the first test as a doctest. A task without either: a module docstring."""
    entry = task.get("entry_point")
    parts = function_header(task.get("code"), entry) or function_header(task.get("seed"), entry)
    mbpp = (task.get("meta") or {}).get("source") == "mbpp"
    return render_header(parts, description, first_test_doctest(task.get("tests")) if mbpp else None)


def opened_code(prompt) -> str:
    """The code a completion prompt ends with, after its last opened ```` ```python ```` fence (the
    header, which the model continues); "" for a chat prompt or a prompt whose last fence is closed."""
    if not isinstance(prompt, str) or "```python\n" not in prompt:
        return ""
    tail = prompt.rsplit("```python\n", 1)[1]
    return "" if "```" in tail else tail


def code_body(code: str, entry_point: str | None) -> str:
    """What follows the header in ``code``: from the first statement of the
    entry function after its docstring to the end of the code. Code without
    that function: the code without a leading module docstring. Code that
    does not parse: unchanged."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return code
    lines = code.splitlines(keepends=True)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point:
            stmts = node.body[1:] if _is_docstring(node.body[0]) else node.body
            if not stmts:
                return "".join(lines[node.body[0].end_lineno:])
            first = stmts[0]
            shared = first.lineno == (node.body[0].end_lineno if stmts is not node.body else node.lineno)
            if shared:   # def f(x): return x, or a docstring and code on one line
                return lines[first.lineno - 1][first.col_offset:] + "".join(lines[first.lineno:])
            return "".join(lines[first.lineno - 1:])
    if tree.body and _is_docstring(tree.body[0]):
        return "".join(lines[tree.body[0].end_lineno:])
    return code


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def parse_summary(text: str) -> str | ParseError:
    """A description from an answer to the summary prompt: the prose before any
    code fence, without a leading ``Description:`` label, at most
    ``MAX_DESCRIPTION_CHARS`` (cut at a line end)."""
    if not isinstance(text, str):
        return ParseError("empty_summary", "no text")
    fence = FENCE.search(text)
    text = text[: fence.start()] if fence else text
    text = re.sub(r"^\s*(?:#+\s*)?(?:task|description)\s*:\s*", "", text.strip(), flags=re.I).strip()
    if len(text) > MAX_DESCRIPTION_CHARS:
        cut = text.rfind("\n", 0, MAX_DESCRIPTION_CHARS)
        text = text[: cut if cut > 0 else MAX_DESCRIPTION_CHARS].rstrip()
    return text if text else ParseError("empty_summary", "the summary holds no prose")


def strip_docstrings(code: str) -> str:
    """``code`` without the docstrings of its module, classes and functions (the
    summary must describe the code, not copy a description out of it). Whole
    docstring lines are deleted, so comments and layout stay; a body left empty
    gets ``pass``. Code that does not parse is returned unchanged."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return code
    lines = code.splitlines(keepends=True)
    cuts: list[tuple[int, int, str | None]] = []   # (first line, last line, replacement), 0-based
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) or not body:
            continue
        doc = body[0]
        if not (isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str)):
            continue
        first, last = doc.lineno - 1, (doc.end_lineno or doc.lineno) - 1
        span = "".join(lines[first:last + 1]).strip()
        if span != ast.get_source_segment(code, doc):  # shares a line with other code: leave it
            continue
        indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
        cuts.append((first, last, f"{indent}pass\n" if len(body) == 1 and not isinstance(node, ast.Module)
                     else None))
    for first, last, repl in sorted(cuts, reverse=True):
        lines[first:last + 1] = [repl] if repl else []
    return "".join(lines)

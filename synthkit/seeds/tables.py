"""Read rows from a local jsonl file, parquet file, or HF dataset directory.

Contract: ``read_rows(path)`` returns a list of dicts in file order. A missing
path raises ``DataError`` naming it; a jsonl line that is not a JSON object
raises ``DataError`` naming the file and the 1-based line number. Blank jsonl
lines are skipped. A ``DatasetDict`` directory needs ``split`` (or has exactly
one split). Everything is read into memory: this is for seed sets, not corpora
(corpora stream through ``kind: hf``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthkit.errors import DataError
from synthkit.data.records import read_jsonl, read_parquet


def read_rows(path: Path, split: str | None = None) -> list[dict[str, Any]]:
    if not path.exists():
        raise DataError(f"seed file not found: {path}")
    if path.is_dir():
        return _read_hf_dir(path, split)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return read_jsonl(path)
    if suffix == ".parquet":
        return read_parquet(path)
    raise DataError(f"{path}: unsupported seed file type '{suffix}'; expected .jsonl, .parquet "
                    "or a directory written by datasets' save_to_disk")


def _read_hf_dir(path: Path, split: str | None) -> list[dict[str, Any]]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except FileNotFoundError as e:
        raise DataError(f"{path}: not a dataset directory written by save_to_disk ({e})") from e
    if isinstance(ds, datasets.DatasetDict):
        if split is None and len(ds) == 1:
            split = next(iter(ds))
        if split not in ds:
            raise DataError(f"{path}: split '{split}' not found; available: {', '.join(ds)}")
        ds = ds[split]
    return ds.to_list()

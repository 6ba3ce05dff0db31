"""The Hub layout of a saved dataset: what ``save`` writes and ``push`` uploads.

``<folder>/``: ``README.md`` (the card), ``images/*.png``, ``data/<split>-NNNNN-of-NNNNN.parquet``
(rows sharded by size; ``validation`` only with that split), ``pipeline.yaml``,
``report.json``, ``contamination.json`` (when a decontaminate stage ran) and
``save_to_disk/`` (with ``save_to_disk: true``; never pushed).

``datasets.load_dataset(folder, split="train")`` reads it as the Hub would; each
parquet file carries the features in its ``huggingface`` schema metadata.
Limit: ``datasets`` cannot load a split with no rows; an empty result is still
written with its columns (read it with ``pyarrow.parquet.read_table``).

Splits are made by task: rows with the same ``split_by`` key (default: the root of
their ``id``, before the first ``/``) land in the same split.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from synthkit.errors import ConfigError

DATA, CARD, IMAGES = "data", "README.md", "images"
PIPELINE, REPORT, CONTAMINATION, DISK = "pipeline.yaml", "report.json", "contamination.json", "save_to_disk"
RUN_FILES = (PIPELINE, REPORT, CONTAMINATION)


def task_key(row_id: Any) -> str:
    """The root of a row id: ``"s01/2/0"`` -> ``"s01"``."""
    return str(row_id).split("/", 1)[0]


def split_by_task(table, fraction: float, seed: int, by: str = "id") -> dict[str, Any]:
    """``{"train": table}``, or with ``fraction`` > 0 also ``"validation"``: whole
    groups (rows with one key) in a seeded order until the validation split
    holds at least ``fraction`` of the rows. With a single group, no split."""
    if fraction <= 0 or table.num_rows == 0:
        return {"train": table}
    import pyarrow as pa
    import pyarrow.compute as pc

    if by not in table.column_names:
        raise ConfigError(f"split_by: no column '{by}' in the dataset; columns: {', '.join(table.column_names)}")
    values = table.column(by).to_pylist()
    keys = [task_key(v) if by == "id" else json.dumps(v, sort_keys=True, default=str) for v in values]
    sizes: dict[str, int] = {}
    for k in keys:
        sizes[k] = sizes.get(k, 0) + 1
    if len(sizes) < 2:
        return {"train": table}
    order = sorted(sizes, key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest())
    want, chosen, n = math.ceil(fraction * table.num_rows), set(), 0
    for k in order[:-1]:  # leave at least one group for train
        if n >= want:
            break
        chosen.add(k)
        n += sizes[k]
    mask = pa.array([k in chosen for k in keys])
    return {"train": table.filter(pc.invert(mask)), "validation": table.filter(mask)}


def features_of(schema):
    import datasets

    return datasets.Features.from_arrow_schema(schema)


def write_split(folder: Path, split: str, table, max_shard_bytes: int) -> list[dict[str, Any]]:
    """Write ``table`` as ``folder/data/<split>-0000k-of-0000N.parquet``, each
    holding about ``max_shard_bytes`` of Arrow data at most; returns
    ``[{path, rows, bytes}]`` per file."""
    import pyarrow.parquet as pq

    features = features_of(table.schema)
    meta = {"huggingface": json.dumps({"info": {"features": features.to_dict()}})}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
    n = max(1, math.ceil(table.nbytes / max_shard_bytes)) if table.num_rows else 1
    n = min(n, max(table.num_rows, 1))
    per = math.ceil(table.num_rows / n) if table.num_rows else 0
    (folder / DATA).mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        part = table.slice(i * per, per) if table.num_rows else table
        path = folder / DATA / f"{split}-{i:05d}-of-{n:05d}.parquet"
        pq.write_table(part, path)
        out.append({"path": path.relative_to(folder).as_posix(), "rows": part.num_rows,
                    "bytes": path.stat().st_size})
    return out


def read_split(folder: Path, split: str = "train"):
    """One split of a saved folder as one Arrow table (pyarrow only; works for an
    empty split too)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted((folder / DATA).glob(f"{split}-*.parquet"))
    if not files:
        return None
    tables = [pq.read_table(p) for p in files]
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def splits_of(folder: Path) -> list[str]:
    """The splits present under ``folder/data``, train first."""
    names = {p.name.split("-", 1)[0] for p in (folder / DATA).glob("*-*-of-*.parquet")}
    return sorted(names, key=lambda s: (s != "train", s != "validation", s))


def upload_files(folder: Path) -> list[str]:
    """The files ``push`` uploads, relative POSIX paths, sorted: the card, its
    images, the data files and the run files; never ``save_to_disk/``."""
    found = [CARD] if (folder / CARD).is_file() else []
    for sub in (DATA, IMAGES):
        if (folder / sub).is_dir():
            found += [p.relative_to(folder).as_posix() for p in (folder / sub).rglob("*") if p.is_file()]
    found += [name for name in RUN_FILES if (folder / name).is_file()]
    return sorted(found)

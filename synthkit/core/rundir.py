"""Run-directory I/O: one folder per stage, written so a kill loses nothing.

Layout of ``runs/<name>/<NN>_<stage>/``: ``_FINGERPRINT``, ``shards/<key>.parquet``
(kept rows of job ``<key>`` = ``p<pass>-s<shard>``), ``rejected/<key>.parquet``,
``stats/<key>.json`` (the job's Funnel), ``stats.json`` (the stage's) and ``_SUCCESS``.

Every file is written to a temporary name and renamed into place, a job's data shard
last: its presence proves the job finished, so a kill leaves a whole job or none,
plus ``*.tmp`` files the next run removes.

Shards are parquet typed by ``core.arrow`` (a value that does not fit is stored as
JSON text and noted in the stats); ``load_table`` unifies shard schemas and reads
``<key>.jsonl`` shards too. The folder: docs/runs.md.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

from synthkit.core import rejected as rejected_rows
from synthkit.core.arrow import cast_table, merged_schema, rows_to_table
from synthkit.core.record import Funnel, Rejected, Row
from synthkit.errors import SynthkitError

log = logging.getLogger(__name__)

DATA, REJECTED, STATS = "shards", "rejected", "stats"


class DiskFullError(SynthkitError):
    """Raised when a write fails for lack of space; finished shards stay valid."""


def job_key(pass_index: int, shard_index: int) -> str:
    return f"p{pass_index:03d}-s{shard_index:06d}"


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(
                f"disk full while writing {path}. Free some space and run the same command "
                "again: every finished shard is kept and will not be redone.") from e
        raise


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=2, default=str)))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def write_rows(folder: Path, key: str, rows: list[Row]) -> dict[str, str]:
    """Write ``rows`` as ``folder/<key>.parquet``; returns the typing notes."""
    table, notes = rows_to_table(rows)
    write_table(folder, key, table)
    return notes


def write_table(folder: Path, key: str, table) -> Path:
    """Write an Arrow table as ``folder/<key>.parquet`` (no trip through Python objects)."""
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.parquet"
    _atomic_write(path, lambda p: pq.write_table(table, p))
    return path


def shard_files(folder: Path) -> list[Path]:
    """The finished shards of ``folder``, in key order."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.suffix in (".parquet", ".jsonl")),
                  key=lambda p: p.stem)


def read_rows(path: Path) -> list[Row]:
    if path.suffix == ".jsonl":
        with path.open() as f:
            return [json.loads(line) for line in f if line.strip()]
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return rejected_rows.unpack(table.to_pylist()) if rejected_rows.is_packed(table.schema) else table.to_pylist()


def count_rows(folder: Path) -> int:
    import pyarrow.parquet as pq

    total = 0
    for p in shard_files(folder):
        if p.suffix == ".parquet":
            total += pq.ParquetFile(p).metadata.num_rows
        else:
            total += sum(1 for line in p.open() if line.strip())
    return total


def iter_rows(folder: Path) -> Iterator[Row]:
    for p in shard_files(folder):
        yield from read_rows(p)


def load_table(folder: Path, columns: list[str] | None = None):
    """All shards of ``folder`` as one Arrow table, schemas unified (struct fields
    merged, ints widened to floats, conflicting columns stored as text)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for p in shard_files(folder):
        t = pq.read_table(p) if p.suffix == ".parquet" else rows_to_table(read_rows(p))[0]
        if rejected_rows.is_packed(t.schema):  # one schema for every stage's rejected rows
            t = rows_to_table(rejected_rows.unpack(t.to_pylist()))[0] if t.num_rows else pa.table({})
        if t.num_columns:
            tables.append(t.select([c for c in columns if c in t.column_names]) if columns else t)
    if not tables:
        return pa.table({})
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        schema, notes = merged_schema([t.schema for t in tables])
        log.warning("%s: shards disagree on column types; %s", folder, "; ".join(f"{k}: {v}" for k, v in notes.items()))
        return pa.concat_tables([cast_table(t, schema) for t in tables])


def shard_notes(folder: Path) -> dict[str, str]:
    """Columns whose types differ between the shards of ``folder`` (read from the
    parquet footers only), as notes; empty when they agree."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = [pq.read_schema(p) for p in shard_files(folder) if p.suffix == ".parquet"]
    try:
        pa.unify_schemas(schemas, promote_options="permissive") if schemas else None
        return {}
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return merged_schema(schemas)[1]


def load_dataset(folder: Path):
    """All shards of ``folder`` as a ``datasets.Dataset`` (held in memory as Arrow)."""
    import datasets

    return datasets.Dataset(load_table(folder))


class StageDir:
    """The folder of one stage and the writes it allows."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def data(self) -> Path:
        return self.path / DATA

    def prepare(self, fingerprint: str, described: dict[str, Any]) -> bool:
        """Make the folder ready for ``fingerprint``. Returns True when the stage
        already finished under it (skip), False when there is work to do. A
        folder made under another fingerprint is wiped: its shards are stale."""
        fp_file = self.path / "_FINGERPRINT"
        if self.path.exists():
            old = read_json(fp_file).get("fingerprint") if fp_file.exists() else None
            if old != fingerprint:
                log.info("%s: config changed, discarding its old output", self.path.name)
                shutil.rmtree(self.path)
        if (self.path / "_SUCCESS").exists():
            return True
        self.path.mkdir(parents=True, exist_ok=True)
        for tmp in self.path.rglob("*.tmp"):
            tmp.unlink()
        if not fp_file.exists():
            write_json(fp_file, {"fingerprint": fingerprint, **described})
        return False

    def job_done(self, key: str) -> bool:
        return any((self.data / f"{key}{ext}").exists() for ext in (".parquet", ".jsonl"))

    def write_job(self, key: str, kept, rejected: list[Rejected], stage: str,
                   funnel: Funnel) -> None:
        """Write one job's outputs; the kept shard last, as the commit point.
        ``kept`` is a list of rows or an Arrow table. When every row was dropped,
        the empty kept shard still has the rows' columns (taken from the dropped
        rows), so an empty result keeps the run's schema."""
        import pyarrow as pa

        rejected_table, notes = rejected_rows.pack(rejected, stage), {}
        if isinstance(kept, list):
            kept, notes = rows_to_table(kept)
            if not kept.num_columns and rejected:
                kept = rows_to_table([r.row for r in rejected])[0].slice(0, 0)
        if not kept.num_columns:  # never a zero-column shard: readers choke on them
            kept = pa.table({"id": pa.array([], pa.string())})
        if notes:
            funnel = Funnel(**{**funnel.__dict__, "notes": {**funnel.notes, **notes}})
        if rejected:  # no empty file: `datasets` cannot read a parquet file without rows
            write_table(self.path / REJECTED, key, rejected_table)
        else:  # a killed earlier attempt at this job may have left one
            (self.path / REJECTED / f"{key}.parquet").unlink(missing_ok=True)
        write_json(self.path / STATS / f"{key}.json", funnel.to_dict())
        write_table(self.data, key, kept)

    def funnel(self) -> Funnel:
        total = Funnel()
        folder = self.path / STATS
        for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            total.add(Funnel.from_dict(read_json(p)))
        return total

    def finish(self, stats: dict[str, Any]) -> None:
        notes = {**self.funnel().notes, **stats.get("notes", {}), **shard_notes(self.data)}
        if notes:
            stats = {**stats, "notes": dict(sorted(notes.items()))}
        write_json(self.path / "stats.json", stats)
        write_json(self.path / "_SUCCESS", {"ok": True})


def rejected_row(r: Rejected, stage: str) -> Row:
    return {**r.row, "rejected_by": f"{stage}:{r.reason}", "rejected_detail": r.detail}

"""Run-directory I/O: one folder per stage, written so a kill loses nothing.

Layout of ``runs/<name>/<NN>_<stage>/``::

    _FINGERPRINT          json: the config fingerprint the folder was made under
    shards/<key>.parquet  kept rows of one unit of work (``<key>`` = p<pass>-s<shard>)
    rejected/<key>.parquet dropped rows, with ``rejected_by`` and ``rejected_detail``
    stats/<key>.json      the unit's Funnel (rows in, kept, dropped per reason, ...)
    stats.json            the stage's summed Funnel, written when it finishes
    _SUCCESS              the stage finished; a rerun with the same fingerprint skips it

Every file is written to a temporary name and renamed into place, and a unit's
data shard is renamed last: its presence is the proof that the unit finished.
A kill at any moment therefore leaves either a whole unit or none of it, plus
stray ``*.tmp`` files that the next run removes.

Shards are parquet. A batch whose values pyarrow cannot type consistently
(a column holding both a string and a list, say) is written as JSON lines
instead (``<key>.jsonl``), so no row is ever lost to a schema quirk.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

from synthkit.errors import SynthkitError
from synthkit.core.record import Funnel, Rejected, Row

log = logging.getLogger(__name__)

DATA, REJECTED, STATS = "shards", "rejected", "stats"


class DiskFullError(SynthkitError):
    """Raised when a write fails for lack of space; finished shards stay valid."""


def unit_key(pass_index: int, shard_index: int) -> str:
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


def write_rows(folder: Path, key: str, rows: list[Row]) -> Path:
    """Write ``rows`` as ``folder/<key>.parquet`` (or ``.jsonl`` if untypable)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as e:
        log.warning("rows of %s/%s have mixed types (%s); writing JSON lines", folder.name, key, e)
        path = folder / f"{key}.jsonl"
        text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
        _atomic_write(path, lambda p: p.write_text(text))
        return path
    path = folder / f"{key}.parquet"
    _atomic_write(path, lambda p: pq.write_table(table, p))
    return path


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

    return pq.read_table(path).to_pylist()


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
    """All shards of ``folder`` as one Arrow table, schemas unified (struct fields merged)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for p in shard_files(folder):
        t = pq.read_table(p) if p.suffix == ".parquet" else pa.Table.from_pylist(read_rows(p))
        if t.num_columns:
            tables.append(t.select([c for c in columns if c in t.column_names]) if columns else t)
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="permissive")


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

    def unit_done(self, key: str) -> bool:
        return any((self.data / f"{key}{ext}").exists() for ext in (".parquet", ".jsonl"))

    def write_unit(self, key: str, kept, rejected: list[Rejected], stage: str,
                   funnel: Funnel) -> None:
        """Write one unit's outputs; the kept shard last, as the commit point.
        ``kept`` is a list of rows or an Arrow table."""
        write_rows(self.path / REJECTED, key, [rejected_row(r, stage) for r in rejected])
        write_json(self.path / STATS / f"{key}.json", funnel.to_dict())
        if isinstance(kept, list):
            write_rows(self.data, key, kept)
        else:
            write_table(self.data, key, kept)

    def funnel(self) -> Funnel:
        total = Funnel()
        folder = self.path / STATS
        for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            total.add(Funnel.from_dict(read_json(p)))
        return total

    def finish(self, stats: dict[str, Any]) -> None:
        write_json(self.path / "stats.json", stats)
        write_json(self.path / "_SUCCESS", {"ok": True})


def rejected_row(r: Rejected, stage: str) -> Row:
    return {**r.row, "rejected_by": f"{stage}:{r.reason}", "rejected_detail": r.detail}

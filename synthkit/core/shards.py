"""A stage's input as shard files, and a whole-dataset stage's verdicts: what a distributed plan works on.

A whole-dataset stage with ``distributed = True`` (``core.stage.WholeStage``)
is given its input as a ``ShardedInput`` (the shard files in key order, their
row counts, the CPUs the executor can put on it) and answers with ``Verdicts``
(which input rows are dropped, why, with which extra columns; every other row
is kept unchanged, in input order). Neither type knows which executor runs the
stage; stages import this module, never an executor.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from synthkit.core import rundir
from synthkit.core.record import Row


def count_file_rows(path: Path) -> int:
    """Rows in one shard file (parquet metadata; a JSON-lines shard is counted line by line)."""
    import pyarrow.parquet as pq

    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    with path.open() as f:
        return sum(1 for line in f if line.strip())


@dataclass
class ShardedInput:
    """The input of a stage as its shard files, in key order (the order the rows have)."""

    files: list[Path]
    counts: list[int]                        # rows per file
    workers: int = 1                         # CPUs the executor can put on this stage
    _cache: tuple[int, list[Row]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, folder: Path | None, workers: int = 1) -> "ShardedInput":
        files = rundir.shard_files(folder) if folder is not None else []
        return cls(files, [count_file_rows(p) for p in files], workers)

    def __getstate__(self) -> dict[str, Any]:  # sent to workers without the driver's read cache
        return {**self.__dict__, "_cache": None}

    @property
    def n(self) -> int:
        return sum(self.counts)

    @property
    def offsets(self) -> list[int]:
        """Input position of each file's first row."""
        out, total = [], 0
        for c in self.counts:
            out.append(total)
            total += c
        return out

    def rows(self, lo: int, hi: int) -> list[Row]:
        """Rows ``lo:hi`` of the concatenated input (what ``executor.batches`` yields for that shard)."""
        out: list[Row] = []
        for i, (start, count) in enumerate(zip(self.offsets, self.counts)):
            if start + count <= lo or start >= hi:
                continue
            if self._cache is None or self._cache[0] != i:  # consecutive shard jobs mostly share a file
                self._cache = (i, rundir.read_rows(self.files[i]))
            out.extend(self._cache[1][max(lo - start, 0):hi - start])
        return out

    def table(self, i: int, columns: Sequence[str] | None = None):
        """File ``i`` as an Arrow table, with those of ``columns`` it has (all when None)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.files[i]
        if path.suffix == ".parquet":
            names = pq.ParquetFile(path).schema_arrow.names
            return pq.read_table(path, columns=[c for c in columns if c in names] if columns else None)
        table = pa.Table.from_pylist(rundir.read_rows(path))
        return table.select([c for c in columns if c in table.column_names]) if columns else table

    def column_names(self) -> list[str]:
        """Every top-level column any shard has, in first-seen order."""
        import pyarrow.parquet as pq

        names: dict[str, None] = {}
        for i, path in enumerate(self.files):
            cols = pq.ParquetFile(path).schema_arrow.names if path.suffix == ".parquet" \
                else self.table(i).column_names
            names.update(dict.fromkeys(cols))
        return list(names)

    def column(self, name: str) -> list[Any] | None:
        """One column of every row, read here (the ``id`` column, say); None if no shard has it."""
        values: list[Any] = []
        found = False
        for i, count in enumerate(self.counts):
            t = self.table(i, [name])
            if name in t.column_names:
                found = True
                values.extend(t.column(name).to_pylist())
            else:
                values.extend([None] * count)
        return values if found else None


Verdict = tuple[str, str, dict[str, Any]]  # (reason, detail, extra columns laid over the rejected row)


@dataclass
class Verdicts:
    """A whole-dataset stage's decision per input row, without the rows: every row is
    kept unchanged except those in ``rejected`` (input position -> ``Verdict``)."""

    rejected: dict[int, Verdict] = field(default_factory=dict)

    def by_file(self, offsets: list[int], counts: list[int]) -> list[dict[int, Verdict]]:
        """The verdicts of each file's rows, keyed by position within the file."""
        out: list[dict[int, Verdict]] = [{} for _ in offsets]
        for p, v in self.rejected.items():
            i = bisect.bisect_right(offsets, p) - 1
            if not 0 <= i < len(offsets) or p >= offsets[i] + counts[i]:
                raise ValueError(f"verdict for input position {p}, outside the input")
            out[i][p - offsets[i]] = v
        return out

"""What an executor is given and what a whole-dataset stage hands back to it.

An *executor* runs the units the runner (``synthkit.core.pipeline``) cuts. The
runner decides *what* to run: the (pass, shard) units of a row-local stage,
with fixed boundaries and keys, or one whole-dataset stage; the executor
decides *where*:

- ``local`` (``pipeline.LocalExecutor``): today's loop, in this process.
- ``ray`` (``synthkit.core.ray_executor.RayExecutor``): the same units as Ray
  actor calls. A unit's rows are read by the worker from the run folder, so
  they are the same rows, cut at the same boundaries and seeded the same way,
  whichever executor ran it; units of one stage may even be split between a
  local run and a Ray run that resumes it.

A whole-dataset stage that can work without holding every row in one process
implements ``process_all_ray(source: ShardedInput) -> Verdicts``; the Ray
executor calls it instead of ``process_all`` and writes the output shards in
workers, from the verdicts. ``ShardedInput`` gives it the input shard files and
``map`` (run one of the stage's methods on every shard, in Ray workers, each
holding its own copy of the stage), and ``Verdicts`` says which input rows were
dropped, why, and with which extra columns; every other row is kept unchanged,
in input order.
"""

from __future__ import annotations

import bisect
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from synthkit.core import rundir
from synthkit.core.record import Funnel, Rejected, Row


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
    mapper: Callable[..., list[Any]] | None = field(default=None, repr=False, compare=False)
    _cache: tuple[int, list[Row]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, folder: Path | None, workers: int = 1) -> "ShardedInput":
        files = rundir.shard_files(folder) if folder is not None else []
        return cls(files, [count_file_rows(p) for p in files], workers)

    def __getstate__(self) -> dict[str, Any]:  # the mapper is the driver's; workers never call it
        return {**self.__dict__, "mapper": None, "_cache": None}

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
        """Rows ``lo:hi`` of the concatenated input (what ``_batches`` yields for that unit)."""
        out: list[Row] = []
        for i, (start, count) in enumerate(zip(self.offsets, self.counts)):
            if start + count <= lo or start >= hi:
                continue
            if self._cache is None or self._cache[0] != i:  # consecutive units mostly share a file
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

    def map(self, method: str, columns: Sequence[str] | None = None) -> Iterator[tuple[int, Any]]:
        """``(offset, stage.<method>(table, offset))`` for every shard file, in order, computed by
        the executor's workers (each with its own copy of the stage, ``setup()`` done)."""
        if self.mapper is None:
            raise RuntimeError("ShardedInput.map needs an executor; this input has none")
        results = self.mapper(method, list(columns) if columns else None)
        yield from zip(self.offsets, results)


@dataclass
class Verdicts:
    """A whole-dataset stage's decision per input row, without the rows: every row is
    kept unchanged except those in ``rejected`` (input position -> (reason, detail,
    extra columns laid over the rejected row))."""

    rejected: dict[int, tuple[str, str, dict[str, Any]]] = field(default_factory=dict)

    def by_file(self, offsets: list[int], counts: list[int]) -> list[dict[int, tuple[str, str, dict[str, Any]]]]:
        """The verdicts of each file's rows, keyed by position within the file."""
        out: list[dict[int, tuple[str, str, dict[str, Any]]]] = [{} for _ in offsets]
        for p, v in self.rejected.items():
            i = bisect.bisect_right(offsets, p) - 1
            if not 0 <= i < len(offsets) or p >= offsets[i] + counts[i]:
                raise ValueError(f"verdict for input position {p}, outside the input")
            out[i][p - offsets[i]] = v
        return out


def write_verdict_unit(sdir: rundir.StageDir, stage: str, key: str, table: Any,
                       rejected: dict[int, tuple[str, str, dict[str, Any]]], seconds: float = 0.0) -> Funnel:
    """Write one output unit of a whole-dataset stage: the rows of ``table`` (an input shard,
    Arrow) minus the rejected ones. Kept rows stay Arrow, as ``_run_whole`` writes them, so
    even an all-dropped unit keeps the input's columns."""
    import pyarrow as pa

    positions = sorted(rejected)
    keep = [True] * table.num_rows
    for k in positions:
        keep[k] = False
    kept = table.filter(pa.array(keep, type=pa.bool_()))
    dropped = []
    for k, row in zip(positions, table.take(positions).to_pylist() if positions else []):
        reason, detail, extra = rejected[k]
        dropped.append(Rejected({**row, **extra}, reason, detail))
    funnel = Funnel(rows_in=table.num_rows, kept=kept.num_rows, seconds=seconds)
    for r in dropped:
        funnel.dropped[r.reason] = funnel.dropped.get(r.reason, 0) + 1
    sdir.write_unit(key, kept, dropped, stage, funnel)
    return funnel


def clear_units(sdir: rundir.StageDir) -> None:
    """Remove a whole-dataset stage's unit files: it is never resumed mid-stage, and a
    killed run of another executor may have cut its output into other units."""
    for sub in (rundir.DATA, rundir.REJECTED, rundir.STATS):
        shutil.rmtree(sdir.path / sub, ignore_errors=True)

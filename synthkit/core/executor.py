"""The executor contract: what the runner hands an executor, and the code every executor runs.

The runner (``core.pipeline``) decides *what* runs: the (pass, shard) jobs of a
row-local stage, at fixed boundaries with fixed keys, or one whole-dataset
stage. An ``Executor`` decides *where*: ``LocalExecutor`` (``core.local_executor``)
here, ``RayExecutor`` (``core.ray_executor``) on a Ray cluster. Both run a shard
job with ``run_job`` and a whole-dataset stage on one machine with ``run_whole``,
so rows, rejections, counts and resume are the same under either; a stage never
learns which executor runs it (see docs/scaling.md).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol

from synthkit.core import rundir
from synthkit.core.progress import whole_bar
from synthkit.core.record import Funnel, Rejected, Row
from synthkit.errors import SynthkitError

if TYPE_CHECKING:
    from synthkit.core.shards import Verdict
    from synthkit.core.stage import Stage


class Executor(Protocol):
    """Runs a pipeline's stages where it chooses; built by ``pipeline.make_executor``."""

    name: str

    def run_jobs(self, stage: "Stage", sdir: rundir.StageDir, input_dir: Path | None,
                 passes: list[str], keys: list[list[str]]) -> None:
        """Run the unfinished jobs ``keys[p][s]`` (pass ``passes[p]``, input shard ``s`` of
        ``stage.config.shard_size`` rows) with ``run_job``; each job writes its own output."""

    def run_whole(self, stage: "Stage", sdir: rundir.StageDir, input_dir: Path | None) -> Funnel:
        """Run a whole-dataset stage over ``input_dir`` into ``sdir``; return its funnel. A stage
        with ``distributed = True`` may be run by its shard plan instead of ``process_all``."""

    def extra_stats(self, stage: "Stage") -> dict[str, Any]:
        """What ``stage.extra_stats()`` said where the stage ran, if not in this process."""

    def close(self) -> None:
        """Release workers; called once, after the last stage."""


def batches(folder: Path | None, size: int) -> Iterator[list[Row]]:
    """The rows of ``folder`` in batches of ``size``: shard ``s`` of a stage is batch ``s``."""
    batch: list[Row] = []
    for row in rundir.iter_rows(folder) if folder else ():
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def progress(total: int, initial: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="shard", mininterval=1.0, dynamic_ncols=True)


def split(stage: "Stage", out: Any) -> tuple[list[Row], list[Rejected]]:
    """A row-local stage's answer as (kept, rejected); anything else is an error naming the stage."""
    if not isinstance(out, list):
        raise SynthkitError(f"stage '{stage.name}' returned {type(out).__name__}; expected a list of rows")
    kept, rejected = [], []
    for item in out:
        if isinstance(item, Rejected):
            rejected.append(item)
        elif isinstance(item, dict):
            kept.append(item)
        else:
            raise SynthkitError(f"stage '{stage.name}' returned a {type(item).__name__} among its rows; "
                                "expected dicts (kept) or Rejected (dropped)")
    return kept, rejected


def run_job(stage: "Stage", sdir: rundir.StageDir, key: str, batch: list[Row]) -> None:
    """One shard job: ``stage.process(batch)``, written under ``key`` (kept shard last)."""
    tokens_before, usage_before, t0 = stage.ctx.tokens_generated, stage.ctx.usage.copy(), time.perf_counter()
    kept, rejected = split(stage, stage.process(batch))
    funnel = Funnel(rows_in=len(batch), kept=len(kept),
                    tokens_generated=stage.ctx.tokens_generated - tokens_before,
                    seconds=time.perf_counter() - t0)
    funnel.add_usage(stage.ctx.usage.minus(usage_before))
    funnel.count(rejected)
    sdir.write_job(key, kept, rejected, stage.name, funnel)


def run_whole(stage: "Stage", sdir: rundir.StageDir, input_dir: Path | None) -> Funnel:
    """A whole-dataset stage in this process: ``process_all`` on the input as one Dataset."""
    import datasets

    t0 = time.perf_counter()
    dataset = rundir.load_dataset(input_dir) if input_dir else datasets.Dataset.from_list([])
    with whole_bar(len(dataset), f"{stage.ctx.index:02d} {stage.name}") as advance:
        stage.ctx.advance = advance  # the stage moves the bar where it can (progress.whole_bar)
        kept, rejected = stage.process_all(dataset)
    rows_per = max(stage.config.shard_size, 10_000)
    if isinstance(kept, datasets.Dataset):
        kept = kept.flatten_indices() if kept._indices is not None else kept
        n_kept, table = len(kept), kept.data.table
        chunks = [table.slice(i, rows_per) for i in range(0, max(n_kept, 1), rows_per)]
    else:
        n_kept = len(kept)
        chunks = [kept[i:i + rows_per] for i in range(0, max(n_kept, 1), rows_per)]
    funnel = Funnel(rows_in=len(dataset), kept=n_kept, seconds=time.perf_counter() - t0,
                    tokens_generated=stage.ctx.tokens_generated)
    funnel.add_usage(stage.ctx.usage)
    funnel.count(rejected)
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        sdir.write_job(rundir.job_key(0, i), chunk, rejected if last else [], stage.name,
                        funnel if last else Funnel())
    return funnel


def write_verdict_job(sdir: rundir.StageDir, stage: str, key: str, table: Any,
                      rejected: "dict[int, Verdict]", seconds: float = 0.0) -> Funnel:
    """Write one output shard of a whole-dataset stage: the rows of ``table`` (an input shard,
    Arrow) minus the rejected ones. Kept rows stay Arrow, as ``run_whole`` writes them, so
    even an all-dropped shard keeps the input's columns."""
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
    funnel.count(dropped)
    sdir.write_job(key, kept, dropped, stage, funnel)
    return funnel


def clear_jobs(sdir: rundir.StageDir) -> None:
    """Remove a whole-dataset stage's output shards: it is never resumed mid-stage, and a
    killed run of another executor may have cut its output at other boundaries."""
    for sub in (rundir.DATA, rundir.REJECTED, rundir.STATS):
        shutil.rmtree(sdir.path / sub, ignore_errors=True)

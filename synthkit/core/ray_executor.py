"""``executor: ray``: the runner's shard jobs and distributed stages on a Ray cluster (an ``Executor``).

- A row-local stage's unfinished (pass, shard) jobs become calls on Ray actors, each
  holding its own copy of the stage (``setup()`` once) and running ``executor.run_job``
  on rows it reads from the run folder, so rows, seeds and writes are the local ones.
  LLM stages reserve ``ray.num_gpus_per_llm_worker`` GPUs or ``cpus_per_llm_worker``
  CPUs per actor; other stages ``cpus_per_worker``.
- A job whose actor died is retried on a fresh actor up to ``ray.max_retries`` times;
  a job whose shard exists is never rerun; an exception in the stage fails the run.
- A whole-dataset stage with ``distributed = True`` runs its shard plan: ``map_shard``
  on actors, ``reduce_shards`` on the driver, output shards written by Ray tasks from
  the verdicts. Other whole-dataset stages run on the driver, as under local.
- The run folder must be one path every node sees; each actor checks it when it starts.
Cluster: ``ray.address``, else ``$RAY_ADDRESS``, else a local instance. See docs/scaling.md.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from synthkit.core import rundir
from synthkit.core.config import RayConfig
from synthkit.core.executor import clear_jobs, progress, run_job, run_whole, write_verdict_job
from synthkit.core.record import Funnel
from synthkit.core.shards import ShardedInput, Verdicts
from synthkit.core.stage import LLMStageConfig, Stage
from synthkit.errors import ConfigError, SynthkitError, require

log = logging.getLogger(__name__)

ROWS_PER_CALL = 2048  # whole-dataset map and write calls: group small shard files up to this many rows


def import_ray():
    return require("ray", extra="ray")


def start_ray(config: RayConfig):
    """Join ``config.address`` / ``$RAY_ADDRESS``, or start a local instance; reuse a running one."""
    ray = import_ray()
    if not ray.is_initialized():
        address = config.address or os.environ.get("RAY_ADDRESS") or None
        if address:
            log.info("ray: joining the cluster at %s", address)
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            log.info("ray: starting a local instance (%s CPUs)", config.num_cpus or "all")
            ray.init(num_cpus=config.num_cpus, include_dashboard=False, logging_level=logging.WARNING)
    return ray


class _Worker:
    """One Ray actor: holds one stage at a time (and so at most one model)."""

    def __init__(self) -> None:
        from synthkit.llm.cache import SHARDED_ENV

        os.environ[SHARDED_ENV] = "1"  # this process writes its own LLM cache file
        self.stage: Stage | None = None
        self.pass_name: str | None = None

    def load(self, cls: type, config: Any, ctx: Any, source: ShardedInput) -> str:
        self.unload()
        if not Path(ctx.stage_dir).parent.is_dir():
            raise ConfigError(f"worker on {socket.gethostname()} cannot see the run folder {Path(ctx.stage_dir).parent}; "
                              "with executor: ray the workdir must be a path every node shares (NFS, a cluster filesystem)")
        self.stage, self.source = cls(config, ctx), source
        self.stage.setup()
        return socket.gethostname()

    def run(self, pass_name: str, key: str, lo: int, hi: int) -> None:
        """One (pass, shard) job: rows ``lo:hi`` through ``executor.run_job``."""
        if pass_name != self.pass_name:
            if self.pass_name is not None:
                self.stage.close_pass()
            self.pass_name = None
            self.stage.open_pass(pass_name)
            self.pass_name = pass_name
        run_job(self.stage, rundir.StageDir(self.stage.ctx.stage_dir), key, self.source.rows(lo, hi))

    def map_shards(self, files: list[int], columns: list[str]) -> list[Any]:
        """``stage.map_shard(table, offset)`` for each of these input files."""
        offsets = self.source.offsets
        return [self.stage.map_shard(self.source.table(i, columns), offsets[i]) for i in files]

    def unload(self) -> dict[str, Any]:
        """Tear the stage down; returns its ``extra_stats()``, asked after the teardown as
        the local runner asks it (a stage may sum up its work there)."""
        stage, self.stage, self.source = getattr(self, "stage", None), None, None
        if stage is None:
            return {}
        try:
            if self.pass_name is not None:
                stage.close_pass()
        finally:
            self.pass_name = None
            stage.teardown()
        return stage.extra_stats()


def _no_progress(n: int) -> None:
    pass


def _worker_context(ctx: Any) -> Any:
    """The stage context a worker gets: the driver's callbacks (its progress bar, the
    rerun record, which holds every stage) stay on the driver."""
    return dataclasses.replace(ctx, advance=_no_progress, rerun=None)


def _write_units(stage_name: str, stage_dir: str, source: ShardedInput, files: list[int],
                 verdicts: list[dict], seconds: float) -> None:
    """A Ray task: write the output job of each input file from its verdicts."""
    sdir = rundir.StageDir(Path(stage_dir))
    for i, rejected in zip(files, verdicts):
        write_verdict_job(sdir, stage_name, rundir.job_key(0, i), source.table(i), rejected,
                          seconds if i == 0 else 0.0)


@dataclass
class _Task:
    args: tuple                      # the arguments of the actor call
    label: str                       # for messages: the job key or the input files
    done: Callable[[], bool] = lambda: False  # finished on disk already (a worker died after writing)
    attempts: int = 0
    result: Any = None


@dataclass
class RayExecutor:
    """Runs jobs on Ray; see the module doc. Built by ``pipeline.make_executor``."""

    config: RayConfig
    stages: Sequence[Stage] = ()
    name: str = "ray"
    _pool: list = field(default_factory=list)
    _shape: tuple = ()
    _worker_stats: dict = field(default_factory=dict)   # stage index -> the workers' extra_stats()

    def __post_init__(self) -> None:
        self.ray = start_ray(self.config)
        self._check_resources()
        from synthkit.llm.cache import merge_writers

        self._merge = merge_writers
        self._cache_dirs = {s.ctx.cache_dir for s in self.stages if s.ctx.cache_dir is not None}
        self._merge_caches()  # writer files a killed run left behind

    # --- resources ----------------------------------------------------------------------
    def _resources(self) -> dict[str, float]:
        return self.ray.cluster_resources()

    def _check_resources(self) -> None:
        res, c = self._resources(), self.config
        if c.num_gpus_per_llm_worker > res.get("GPU", 0):
            raise ConfigError(f"ray.num_gpus_per_llm_worker: {c.num_gpus_per_llm_worker} GPUs per LLM worker, "
                              f"but the cluster has {res.get('GPU', 0):g}")
        for key in ("cpus_per_worker", "cpus_per_llm_worker"):
            if getattr(c, key) > res.get("CPU", 0):
                raise ConfigError(f"ray.{key}: {getattr(c, key):g} CPUs per worker, but the cluster has "
                                  f"{res.get('CPU', 0):g}")

    def cpus(self) -> int:
        return max(1, int(self._resources().get("CPU", 1)))

    def _shape_of(self, stage: Stage) -> tuple[float, float]:
        c = self.config
        if isinstance(stage.config, LLMStageConfig):
            return c.cpus_per_llm_worker, c.num_gpus_per_llm_worker
        return c.cpus_per_worker, 0.0

    def _fits(self, shape: tuple[float, float]) -> int:
        res = self._resources()
        n = math.floor(res.get("CPU", 1) / shape[0]) if shape[0] else 1 << 30
        if shape[1]:
            n = min(n, math.floor(res.get("GPU", 0) / shape[1]))
        return max(1, n)

    # --- the actor pool -----------------------------------------------------------------
    def _spawn(self, shape: tuple[float, float]):
        return self.ray.remote(_Worker).options(num_cpus=shape[0], num_gpus=shape[1], max_restarts=0).remote()

    def _actors(self, shape: tuple[float, float], n: int) -> list:
        """``n`` actors of ``shape``; the pool is kept between stages of the same shape."""
        if shape != self._shape:
            self.release()
            self._shape = shape
        while len(self._pool) < n:
            self._pool.append(self._spawn(shape))
        return self._pool[:n]

    def release(self) -> None:
        """Kill the pooled actors (their CPUs go back to Ray Data and tasks)."""
        for actor in self._pool:
            self.ray.kill(actor)
        self._pool, self._shape = [], ()

    def close(self) -> None:
        self.release()
        self._merge_caches()

    def _merge_caches(self) -> None:
        for d in self._cache_dirs:
            if self._merge(d):
                log.info("ray: merged the workers' LLM cache files into %s", d)

    # --- dispatch with retries ------------------------------------------------------------
    def _run_tasks(self, stage: Stage, tasks: list[_Task], submit: Callable[[Any, tuple], Any],
                   source: ShardedInput, bar=None) -> None:
        """Run ``tasks`` on a pool of actors holding ``stage``; a task whose actor died is retried
        on a fresh actor (``max_retries`` times) unless it finished on disk before dying."""
        ray, exc = self.ray, self.ray.exceptions
        lost = (exc.RayActorError, exc.WorkerCrashedError, exc.OutOfMemoryError, exc.NodeDiedError)
        shape = self._shape_of(stage)
        n = min(self.config.workers or self._fits(shape), len(tasks))
        load = (type(stage), stage.config, _worker_context(stage.ctx), source)
        idle = list(self._actors(shape, n))
        self._wait_started(stage, shape, [a.load.remote(*load) for a in idle])
        queue, pending, finished = deque(tasks), {}, False
        try:
            while queue or pending:
                while idle and queue:
                    actor, task = idle.pop(), queue.popleft()
                    pending[submit(actor, task.args)] = (actor, task)
                ready, _ = ray.wait(list(pending), num_returns=1)
                actor, task = pending.pop(ready[0])
                try:
                    task.result = ray.get(ready[0])
                except lost as e:
                    self._pool.remove(actor)
                    replacement = self._spawn(shape)
                    self._pool.append(replacement)
                    self._wait_started(stage, shape, [replacement.load.remote(*load)])
                    idle.append(replacement)
                    if task.done():
                        log.warning("ray: a worker died after finishing %s; kept", task.label)
                    else:
                        task.attempts += 1
                        if task.attempts > self.config.max_retries:
                            raise SynthkitError(f"{stage.name}: {task.label}: its worker died {task.attempts} time(s), "
                                                f"more than ray.max_retries = {self.config.max_retries} (last: "
                                                f"{type(e).__name__}); finished jobs are kept, run the same command "
                                                "to resume") from None
                        log.warning("ray: worker lost on %s (%s); retrying (%d/%d)", task.label, type(e).__name__,
                                    task.attempts, self.config.max_retries)
                        queue.appendleft(task)
                    continue
                idle.append(actor)
                if bar is not None:
                    bar.update(1)
            finished = True
        finally:
            if finished:  # teardown in every worker (models freed, sandboxes stopped); the processes stay
                extras = ray.get([a.unload.remote() for a in self._pool])
                self._worker_stats[stage.ctx.index] = [e for e in extras if e]  # the last pass's
            else:  # a failed stage: its workers may be busy or broken; end them
                self.release()

    def _wait_started(self, stage: Stage, shape: tuple[float, float], loads: list) -> None:
        """Wait for the workers' ``load``; say so every minute while the cluster has no room for them.
        A worker that cannot see the run folder, or a stage that cannot start, fails here."""
        pending = loads
        while pending:
            _, pending = self.ray.wait(pending, num_returns=len(pending), timeout=60)
            if pending:
                log.warning("%s: %d of %d Ray workers (%g CPU, %g GPU each) not started after a minute; the "
                            "cluster has %s free", stage.name, len(pending), len(loads), shape[0], shape[1],
                            self.ray.available_resources())
        self.ray.get(loads)

    # --- the executor interface -----------------------------------------------------------
    def extra_stats(self, stage: Stage) -> dict[str, Any]:
        """What ``stage.extra_stats()`` said in the workers that ran it (``merge_worker_stats``)."""
        return merge_worker_stats(self._worker_stats.pop(stage.ctx.index, []))

    def run_jobs(self, stage: Stage, sdir: rundir.StageDir, input_dir: Path | None,
                 passes: list[str], keys: list[list[str]]) -> None:
        """The unfinished ``keys[p][s]`` jobs, pass by pass, on actors holding ``stage``."""
        source = ShardedInput.of(input_dir, self.cpus())
        size = stage.config.shard_size
        total = sum(map(len, keys))
        done = sum(sdir.job_done(k) for row in keys for k in row)
        with progress(total, done, f"{stage.ctx.index:02d} {stage.name} (ray)") as bar:
            for name, row in zip(passes, keys):
                tasks = [_Task((name, key, s * size, (s + 1) * size), f"job {key}",
                               done=lambda key=key: sdir.job_done(key))
                         for s, key in enumerate(row) if not sdir.job_done(key)]
                if tasks:
                    self._run_tasks(stage, tasks, lambda actor, args: actor.run.remote(*args), source, bar)
        self._merge_caches()

    def map_shards(self, stage: Stage, source: ShardedInput, columns: list[str]) -> list[Any]:
        """``stage.map_shard(table, offset)`` for every input file, in file order, on actors."""
        tasks = [_Task((g, columns), f"input files {g[0]}..{g[-1]}") for g in _groups(source.counts)]
        self._run_tasks(stage, tasks, lambda actor, args: actor.map_shards.remote(*args), source)
        return [r for t in tasks for r in t.result]

    def run_whole(self, stage: Stage, sdir: rundir.StageDir, input_dir: Path | None) -> Funnel:
        """A distributed stage by its shard plan (map on actors, reduce here, output written by
        Ray tasks); any other whole-dataset stage on the driver, as under local."""
        source = ShardedInput.of(input_dir, self.cpus())
        if not stage.distributed or source.n == 0:
            log.info("%s: whole-dataset stage runs on the driver", stage.name)
            stage.setup()
            clear_jobs(sdir)
            return run_whole(stage, sdir, input_dir)
        self.release()  # idle actors of the last stage would hold the CPUs Ray Data and tasks need
        t0 = time.perf_counter()
        columns = stage.shard_columns()
        results = self.map_shards(stage, source, list(columns)) if columns else []
        self.release()
        verdicts: Verdicts = stage.reduce_shards(source, results)
        seconds = time.perf_counter() - t0
        self.release()  # the write tasks (and Ray Data before them) need the CPUs
        clear_jobs(sdir)
        write = self.ray.remote(_write_units).options(num_cpus=self.config.cpus_per_worker,
                                                     max_retries=self.config.max_retries)
        slices = verdicts.by_file(source.offsets, source.counts)
        refs = [write.remote(stage.name, str(sdir.path), source, g, [slices[i] for i in g], seconds)
                for g in _groups(source.counts)]
        self.ray.get(refs)
        funnel = sdir.funnel()
        funnel.tokens_generated = stage.ctx.tokens_generated
        funnel.add_usage(stage.ctx.usage)
        return funnel


def merge_worker_stats(extras: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One stats dict from the workers' ``extra_stats()``: a key on which they all agree keeps its
    value; one on which they differ (a node without user namespaces, say) becomes
    ``{"per_worker": [each distinct value]}``."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for e in extras for k in e):
        values = [e[key] for e in extras if key in e]
        distinct = [v for i, v in enumerate(values) if v not in values[:i]]
        out[key] = distinct[0] if len(distinct) == 1 else {"per_worker": distinct}
    return out


def _groups(counts: list[int], rows: int = ROWS_PER_CALL) -> list[list[int]]:
    """Consecutive file indexes, grouped until a group holds ``rows`` rows (one Ray call each)."""
    groups, cur, n = [], [], 0
    for i, count in enumerate(counts):
        cur.append(i)
        n += count
        if n >= rows:
            groups.append(cur)
            cur, n = [], 0
    return groups + [cur] if cur else groups

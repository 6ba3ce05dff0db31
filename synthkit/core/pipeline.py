"""The pipeline runner: stages run one at a time, each from the last one's output.

- Each stage's folder (``core.rundir``) carries a fingerprint of its config, the
  pipeline seed, its LLM config and the fingerprint of the stage before it
  (``core.fingerprint``); a rerun skips a stage whose ``_SUCCESS`` and fingerprint
  match and redoes it, and everything after it, when they differ.
- A row-local stage's input is cut into (pass, shard) jobs at fixed boundaries, each
  saved when done and seeded by its position: a run killed with SIGKILL resumes at
  the first unsaved job with the rows an uninterrupted run gives (ids are checked).
- Where jobs run is the executor's business (``core.executor``; ``executor: local``
  or ``ray``); neither enters a fingerprint, so a run may resume on the other.
- ``report.json`` in the run folder holds each stage's rows in/out, drops by reason,
  seconds and LLM usage, and their ``totals``; a stage with ``finish_run(report)``
  (``save``) is then called with it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from pathlib import Path
from typing import Any, Sequence

from synthkit.core import rerun, rundir
from synthkit.core.columns import check_columns, folder_columns
from synthkit.core.config import PipelineConfig, load_raw, parse_pipeline, stage_llm_config, validate_stage
from synthkit.core.executor import Executor
from synthkit.core.fingerprint import fingerprint, row_neutral
from synthkit.core.local_executor import LocalExecutor
from synthkit.core.progress import quiet_libraries
from synthkit.core.record import Funnel, Row, assign_ids
from synthkit.core.registry import STAGES
from synthkit.core.report import throughput, totals
from synthkit.core.stage import Stage, StageConfig, StageContext
from synthkit.errors import ConfigError, DataError

log = logging.getLogger(__name__)


class Pipeline:
    """An ordered list of stages and the settings they run under; ``run()`` returns the final dataset.

    Args:
        stages: stage configs in order, each a dict with a ``stage:`` key (the registry
            name, or ``module:Class`` of a plugin) and that stage's options, or a
            ``StageConfig``. Unknown keys and stages fail here, with the key path.
        name: the run folder's name, ``<workdir>/<name>/``.
        seed: the pipeline seed; every stage derives its own from it.
        llm: ``LLMConfig`` keys (``backend``, ``model``, ...) for every stage that calls a
            model; a stage's own ``llm:`` is laid over them.
        workdir: where run folders go (relative to ``base_dir``).
        base_dir: the folder relative paths resolve against (``from_yaml``: the file's).
        iterations: the ``iterations:`` block (train between rounds); such a pipeline
            runs with ``synthkit.rounds.run_rounds``, not ``run()``.
        executor: ``"local"`` (this process) or ``"ray"`` (docs/scaling.md).
        ray: ``ray:`` settings, read only with ``executor="ray"``.
        inputs: a saved dataset's record of its seed inputs (``core.rerun``), checked first.

    Example::

        Pipeline.from_yaml("pipelines/quickstart.yaml").run()          # -> datasets.Dataset
        Pipeline([{"stage": "load_seeds", "path": "seeds.jsonl"}, {"stage": "generate", "n": 2}],
                 name="demo", llm={"backend": "dummy"}).run()
        Pipeline([{"stage": "map", "function": "my_mod:clean"}]).run(dataset=rows)  # rows in memory
    """

    def __init__(self, stages: Sequence[StageConfig | dict[str, Any]], *, name: str = "pipeline",
                 seed: int = 0, llm: dict[str, Any] | None = None, workdir: str | Path = "runs",
                 base_dir: str | Path = ".", iterations: dict[str, Any] | None = None,
                 executor: str = "local", ray: dict[str, Any] | None = None,
                 inputs: list[dict[str, Any]] | None = None) -> None:
        raw = {"name": name, "seed": seed, "workdir": str(workdir), "llm": llm or {},
               "stages": [s.model_dump() if isinstance(s, StageConfig) else dict(s) for s in stages],
               "executor": executor, "ray": ray or {}}
        if iterations is not None:
            raw["iterations"] = iterations
        if inputs is not None:  # a saved dataset's record of its seed inputs (core.rerun)
            raw["inputs"] = inputs
        self.config, self.stage_configs = parse_pipeline(raw)
        self.base_dir = Path(base_dir).resolve()
        # every relative path of a pipeline, the workdir included, resolves against its file's folder
        self.workdir = (self.base_dir / Path(self.config.workdir).expanduser()).resolve()

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: Sequence[str] = (), workdir: str | Path | None = None) -> "Pipeline":
        raw = load_raw(path)
        cfg, _ = parse_pipeline(raw, list(overrides))
        return cls(cfg.stages, name=cfg.name, seed=cfg.seed, llm=cfg.llm.model_dump(exclude_unset=True),
                   workdir=Path(workdir).resolve() if workdir is not None else cfg.workdir,
                   base_dir=Path(path).resolve().parent,
                   iterations=cfg.iterations, executor=cfg.executor, ray=cfg.ray.model_dump(exclude_unset=True),
                   inputs=cfg.inputs)

    @property
    def run_dir(self) -> Path:
        return self.workdir / self.config.name

    # --- building --------------------------------------------------------------------
    def _context(self, index: int, stage_dir: Path, checkpoints: list[str]) -> StageContext:
        scfg = self.stage_configs[index]
        llm = stage_llm_config(self.config.llm, getattr(scfg, "llm", None), index)
        return StageContext(index=index, seed=self.config.seed, stage_dir=stage_dir,
                            base_dir=self.base_dir, llm_config=llm,
                            cache_dir=self.workdir / ".llm_cache",
                            checkpoints=list(checkpoints), pipeline=self.config.model_dump())

    def build(self, run_dir: Path | None = None, checkpoints: Sequence[str] = ()) -> list[Stage]:
        """Instantiate every stage without running any (what `synthkit validate` does)."""
        run_dir = run_dir or self.run_dir
        stages = []
        for i, scfg in enumerate(self.stage_configs):
            cls = STAGES.get(scfg.stage)
            stage_dir = run_dir / f"{i:02d}_{folder_name(cls.name)}"
            stages.append(cls(scfg, self._context(i, stage_dir, list(checkpoints))))
        rerun.attach(self, stages)  # recorded seed inputs checked; save's pipeline.yaml record
        return stages

    # --- running ---------------------------------------------------------------------
    def run(self, dataset: "datasets.Dataset | list[Row] | None" = None) -> "datasets.Dataset":  # noqa: F821
        """Run every stage once; return the final dataset. The ``iterations:``
        rounds run one level up, in ``synthkit.rounds.run_rounds(pipeline)``.

        ``dataset`` (a ``datasets.Dataset`` or a list of dicts), when given, is
        the first stage's input instead of nothing: see ``write_input``. Its
        content fingerprint enters every stage's, so a rerun with the same rows
        skips and changed rows redo every stage."""
        if self.config.iterations is not None:
            raise ConfigError("iterations: this pipeline trains between rounds; run it with "
                              "`synthkit run` or synthkit.rounds.run_rounds(pipeline)")
        if dataset is None:
            return self.run_stages(self.run_dir)
        first = STAGES.get(self.stage_configs[0].stage)
        if not first.reads_input:  # load_seeds reads its own path/source
            raise ConfigError(f"run(dataset=...): the first stage, {first.name}, ignores its input and would "
                              "drop the rows given; remove it (the rows are the input) or pass no dataset")
        input_dir, content = write_input(self.run_dir, dataset)
        return self.run_stages(self.run_dir, upstream=content, input_dir=input_dir)

    def run_stages(self, run_dir: Path, checkpoints: Sequence[str] = (),
                   upstream: str = "", input_dir: Path | None = None) -> "datasets.Dataset":  # noqa: F821
        """Run the stages into ``run_dir``. ``checkpoints`` (models earlier rounds
        trained) and ``upstream`` (a fingerprint of what came before this run,
        e.g. a round's training) both enter every stage's fingerprint.
        ``input_dir``, a folder of shards, is the first stage's input."""
        with quiet_libraries():  # no stray `datasets` bars between the stages' own
            return self._run_stages(run_dir, checkpoints, upstream, input_dir)

    def _run_stages(self, run_dir: Path, checkpoints: Sequence[str], upstream: str,
                    input_dir: Path | None) -> "datasets.Dataset":  # noqa: F821
        started = time.perf_counter()
        run_dir.mkdir(parents=True, exist_ok=True)
        stages = self.build(run_dir, checkpoints)
        check(stages, folder_columns(input_dir) if input_dir else ())
        executor = make_executor(self.config, stages)
        prev_data, report = input_dir, []
        try:
            for stage in stages:
                llm = stage.ctx.llm_config  # models by content or Hub revision; speed settings left out
                described = {"stage": stage.name, "config": row_neutral(stage.config.model_dump()),
                             "seed": self.config.seed, "llm": llm.fingerprint() if llm else None,
                             "checkpoints": [llm.fingerprint(c)["model"] if llm else c for c in stage.ctx.checkpoints],
                             "extra": stage.fingerprint_extra(), "upstream": upstream}
                upstream = fingerprint(described)
                sdir = rundir.StageDir(stage.ctx.stage_dir)
                if sdir.prepare(upstream, described):
                    log.info("%s: finished earlier with the same config, skipping", sdir.path.name)
                else:
                    self._run_one(stage, sdir, prev_data, executor)
                report.append(rundir.read_json(sdir.path / "stats.json"))
                prev_data = sdir.data
        finally:
            executor.close()
        final = rundir.load_dataset(prev_data)
        summary = {"name": self.config.name, "seed": self.config.seed, "rows_out": len(final), "fingerprint": upstream,
                   "seconds": round(time.perf_counter() - started, 3), "stages": report, "totals": totals(report)}
        rundir.write_json(run_dir / "report.json", summary)
        for stage in stages:  # a stage that publishes the run (save) gets its final report
            stage.finish_run(summary)
        return final

    def _run_one(self, stage: Stage, sdir: rundir.StageDir, input_dir: Path | None, executor: Executor) -> None:
        started = time.perf_counter()
        try:
            if stage.whole_dataset:
                funnel = executor.run_whole(stage, sdir, input_dir)
            else:
                funnel = _run_rowwise(stage, sdir, input_dir, executor)
        finally:
            stage.teardown()
        _check_unique_ids(sdir.data, stage.name)
        stats = {**executor.extra_stats(stage), **stage.extra_stats(), "stage": stage.name, "index": stage.ctx.index, **funnel.to_dict(),
                 "wall_seconds_last_run": round(time.perf_counter() - started, 3),
                 "tokens_per_s": throughput(funnel, stage.ctx.llm_config)}
        sdir.finish(stats)
        log.info("%s: %d in, %d kept, dropped %s", sdir.path.name, funnel.rows_in, funnel.kept, funnel.dropped)


def make_executor(config: PipelineConfig, stages: Sequence[Stage] = ()) -> Executor:
    """The executor ``config.executor`` names, started (a Ray executor joins or starts its cluster)."""
    if config.executor == "ray":
        from synthkit.core.ray_executor import RayExecutor

        return RayExecutor(config.ray, stages=stages)
    return LocalExecutor()


def check(stages: Sequence[Stage], given: Sequence[str] | None = ()) -> None:
    """Every stage's ``check()``, then the columns each reads (``core.columns``; ``given``:
    the input rows' columns), before anything runs; what a check opened is closed again."""
    for stage in stages:
        try:
            stage.check()
        finally:
            stage.teardown()
    check_columns(stages, given)


def folder_name(stage_name: str) -> str:
    """``stage_name`` made safe as part of a folder name (``NN_<name>``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stage_name).strip("._") or "stage"


INPUT_ROWS_PER_SHARD = 10_000


def write_input(run_dir: Path, dataset: "datasets.Dataset | list[Row]") -> tuple[Path, str]:  # noqa: F821
    """Save in-memory rows as ``<run_dir>/input/shards/``; return that folder and
    a fingerprint of the content (ids included, row order matters).

    A row without an ``id`` (or with ``id: None``) gets ``stable_id`` of its
    content (``-1``, ``-2``... for exact duplicates); given ids are cast to str.
    Duplicate ids are a ``DataError``. The folder is rewritten only when the
    content changed. Limit: the rows are held in memory as Python dicts once;
    for data larger than memory, save it to parquet and use ``load_seeds``."""
    rows = _input_rows(dataset)
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, default=str).encode() + b"\n")
    content = digest.hexdigest()[:20]
    sdir = rundir.StageDir(run_dir / "input")
    if sdir.prepare(content, {"stage": "input", "rows": len(rows)}):
        return sdir.data, content
    size = INPUT_ROWS_PER_SHARD
    for i in range(0, max(len(rows), 1), size):
        chunk = rows[i:i + size]
        sdir.write_job(rundir.job_key(0, i // size), chunk, [], "input",
                       Funnel(rows_in=len(chunk), kept=len(chunk)))
    sdir.finish({"stage": "input", **Funnel(rows_in=len(rows), kept=len(rows)).to_dict()})
    return sdir.data, content


def _input_rows(dataset: Any) -> list[Row]:
    import datasets

    if isinstance(dataset, list):
        rows = dataset
    elif isinstance(dataset, datasets.Dataset):
        rows = dataset.to_list()
    else:
        hint = " (pick a split: dataset['train'])" if type(dataset).__name__ == "DatasetDict" else ""
        raise DataError(f"run(dataset=...): expected a datasets.Dataset or a list of dicts, "
                        f"got {type(dataset).__name__}{hint}")
    out: list[Row] = []
    missing: list[int] = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataError(f"run(dataset=...): row {i} is a {type(row).__name__}; expected a dict")
        row = dict(row)
        if row.get("id") is None:
            row.pop("id", None)  # so a Dataset's null id and a missing key give the same stable id
            missing.append(i)
        else:
            row["id"] = str(row["id"])
        out.append(row)
    for i, row in zip(missing, assign_ids([out[i] for i in missing])):
        out[i] = row
    seen: set[str] = set()
    for i, row in enumerate(out):
        if row["id"] in seen:
            raise DataError(f"run(dataset=...): duplicate id '{row['id']}' (row {i}); ids must be unique")
        seen.add(row["id"])
    return out


def _run_rowwise(stage: Stage, sdir: rundir.StageDir, input_dir: Path | None, executor: Executor) -> Funnel:
    """Cut the input into (pass, shard) jobs at fixed boundaries; the executor runs the unfinished ones."""
    size = stage.config.shard_size
    n_rows = rundir.count_rows(input_dir) if input_dir else 0
    n_shards = math.ceil(n_rows / size)
    passes = list(stage.passes())
    keys = [[rundir.job_key(p, s) for s in range(n_shards)] for p in range(len(passes))]
    executor.run_jobs(stage, sdir, input_dir, passes, keys)
    funnel = sdir.funnel()
    funnel.rows_in = n_rows  # each pass reads every input row; count them once
    return funnel


def _check_unique_ids(folder: Path, stage: str) -> None:
    table = rundir.load_table(folder, columns=["id"])
    if "id" not in table.column_names:
        return
    ids = table.column("id").to_pylist()
    if len(ids) != len(set(ids)):
        seen, dups = set(), []
        for i in ids:
            if i in seen:
                dups.append(i)
            seen.add(i)
        raise DataError(f"stage '{stage}' produced duplicate row ids, e.g. {dups[:5]}; "
                        "each output row needs a unique `id`")


__all__ = ["Pipeline", "PipelineConfig", "validate_stage", "fingerprint"]

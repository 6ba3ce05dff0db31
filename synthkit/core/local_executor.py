"""``executor: local`` (the default): every shard job and whole-dataset stage in this process.

Jobs run one after another, pass by pass; a finished job (its kept shard on
disk) is skipped, so a killed run resumes at the first unfinished one. A
whole-dataset stage runs ``process_all`` here, distributed or not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthkit.core import rundir
from synthkit.core.executor import batches, clear_jobs, progress, run_job, run_whole
from synthkit.core.record import Funnel
from synthkit.core.stage import Stage


class LocalExecutor:
    """Runs every shard job here, one after another (an ``Executor``)."""

    name = "local"

    def run_jobs(self, stage: Stage, sdir: rundir.StageDir, input_dir: Path | None,
                 passes: list[str], keys: list[list[str]]) -> None:
        """Run the unfinished ``keys[p][s]`` jobs, pass by pass (``s`` = input shard)."""
        stage.setup()
        done = sum(sdir.job_done(k) for row in keys for k in row)
        with progress(sum(map(len, keys)), done, f"{stage.ctx.index:02d} {stage.name}") as bar:
            for p, name in enumerate(passes):
                if all(sdir.job_done(k) for k in keys[p]):
                    continue
                stage.open_pass(name)
                try:
                    for s, batch in enumerate(batches(input_dir, stage.config.shard_size)):
                        if sdir.job_done(keys[p][s]):
                            continue
                        run_job(stage, sdir, keys[p][s], batch)
                        bar.update(1)
                finally:
                    stage.close_pass()

    def run_whole(self, stage: Stage, sdir: rundir.StageDir, input_dir: Path | None) -> Funnel:
        stage.setup()
        clear_jobs(sdir)  # a killed Ray run may have cut this stage's output at other boundaries
        return run_whole(stage, sdir, input_dir)

    def extra_stats(self, stage: Stage) -> dict[str, Any]:
        """Nothing: the stage ran in this process and the runner asks it directly."""
        return {}

    def close(self) -> None:
        pass

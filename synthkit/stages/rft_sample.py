"""rft_sample: the RFT and RFT+RD baselines of GiFT (arXiv 2502.11466).

Input: task rows, as ``gibbs_resample``. Samples ``n`` codes per task from the
**seed** description (``gibbs_resample``'s prompt), runs them in the sandbox and keeps
the passing ones paired with the seed description; ``describe: true`` (RFT+RD) adds
a generated description for each kept code as one more row (``<sample id>/rd``).
For a fair comparison ``n`` defaults to GiFT's ``budget.steps × budget.k`` and at
most ``max_rows`` (``budget.draws``) rows per task and checkpoint are kept, drawn at
random; the rest are ``over_budget``. Rows as ``gibbs_resample``'s, id
``<task>/<checkpoint>-<sample>``; ``include_seed`` adds the seed pair once.
Rejected: failing samples, ``over_budget``, ``no_description``, ``no_tests``,
``empty_summary``. Row-local (``CheckpointSampler``): a killed run resumes at the
first unsaved shard. Writes ``diversity.json``. Details: docs/methods/gift.md.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from synthkit.core import rundir
from synthkit.core.record import Rejected, Row, child
from synthkit.core.registry import register_stage
from synthkit.core.sampling import derive_seed
from synthkit.core.stage import Stage
from synthkit.stages.gibbs_resample import CodeSampler, CodeSamplingConfig, seed_row, sft_row, split_tasks, task_id

log = logging.getLogger(__name__)


class Budget(BaseModel):
    """GiFT's sampling budget per task, which RFT matches: n = steps × k."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(20, ge=1, description="GiFT's T")
    k: int = Field(3, ge=1, description="GiFT's samples per step")
    draws: int = Field(8, ge=1, description="GiFT's s: training rows per task (perplexity_select.draws)")


@register_stage("rft_sample")
class RftSample(Stage):
    """RFT: n codes per task from the seed description, keep the passing ones; describe: true adds RFT+RD."""

    reads = ("instruction", ("tests", "io_tests"))
    writes = ("id", "code", "body", "response", "messages", "verify", "scores", "meta")

    class Config(CodeSamplingConfig):  # + the shared sampling, prompt and sandbox keys of gibbs_resample
        n: int | None = Field(None, ge=1, description="codes per task and checkpoint; None: budget.steps * budget.k")
        budget: Budget = Field(default_factory=Budget, description="GiFT's T and k, for an equal sampling budget")
        describe: bool = Field(False, description="RFT+RD: add (generated description, code) rows")
        max_rows: int | None = Field(None, ge=1, description=(
            "training rows per task (seed pair aside); None: budget.draws"))

        @property
        def samples(self) -> int:
            return self.n if self.n is not None else self.budget.steps * self.budget.k

        @property
        def rows_per_task(self) -> int:
            return self.max_rows if self.max_rows is not None else self.budget.draws

        @property
        def codes_per_task(self) -> int:
            """Passing codes kept per task: every one is a row, and with ``describe`` it brings its RD row."""
            return max(1, self.rows_per_task // 2) if self.describe else self.rows_per_task

    def __init__(self, config, ctx) -> None:
        super().__init__(config, ctx)
        self.codes = CodeSampler(self)
        self.sampler = self.codes.sampler
        self.diversity: dict[str, Any] = {}
        self._running = False

    def setup(self) -> None:
        self._running = True   # the sandbox starts at the first code to run

    def teardown(self) -> None:
        self.codes.close()
        if self._running:   # the runner ran (or resumed) the stage: report on everything it kept
            self._running = False
            self._write_diversity()

    def extra_stats(self) -> dict[str, Any]:
        from synthkit.eval.diversity import summary

        return {"diversity": summary(self.diversity)} if self.diversity else {}

    def process(self, batch: list[Row]) -> list[Row | Rejected]:
        tasks, rejected = split_tasks(batch)
        out: list[Row | Rejected] = list(rejected)
        ci, codes = self.sampler.index, self.codes
        if self.config.include_seed and ci == 0:
            out += [r for r in (seed_row(t, self.sampler) for t in tasks) if r is not None]
        if not tasks:
            return out
        prompts = [codes.code_prompt(t, t["instruction"]) for t in tasks]
        params = codes.code_params(self.sampler.seed(tasks), self.config.samples)
        samples = []
        answers = self.sampler.llm.generate([p for p, _ in prompts], params)
        for task, (prompt, header), comps in zip(tasks, prompts, answers):
            for j, comp in enumerate(comps):
                item = codes.sample_row(task, f"{ci}-{j}", comp, prompt, header, task["instruction"], params,
                                        sample=j)
                (out if isinstance(item, Rejected) else samples).append(item)
        passing: dict[str, list[Row]] = {}
        for item in codes.verify(samples):
            if isinstance(item, Rejected):
                out.append(item)
            else:
                passing.setdefault(task_id(item[0]), []).append(item[0])
        kept = []
        for tid, rows in passing.items():
            chosen, dropped = self._cap(tid, rows)
            kept += chosen
            out += dropped
        out += kept
        if self.config.describe:
            out += self._describe(kept, tasks)
        return out

    def _cap(self, tid: str, rows: list[Row]) -> tuple[list[Row], list[Rejected]]:
        """At most ``codes_per_task`` of a task's passing rows, drawn without replacement (seeded by the
        pipeline seed, stage, checkpoint and task), in sample order; the others as ``over_budget``."""
        limit = self.config.codes_per_task
        if len(rows) <= limit:
            return rows, []
        rng = random.Random(derive_seed(self.ctx.seed, self.ctx.index, self.sampler.index, "cap", tid))
        picked = set(rng.sample(range(len(rows)), limit))
        why = f"{limit} of {len(rows)} passing codes kept: the training rows per task match GiFT's draws"
        return ([r for i, r in enumerate(rows) if i in picked],
                [Rejected(r, "over_budget", why) for i, r in enumerate(rows) if i not in picked])

    def _describe(self, kept: list[Row], tasks: list[Row]) -> list[Row | Rejected]:
        """RFT+RD: one generated description per kept code, paired with that code."""
        out: list[Row | Rejected] = []
        seed = self.codes.seed("describe", self.sampler.index, tasks)
        for row, (desc, why) in zip(kept, self.codes.summarise([(r, r["code"]) for r in kept], seed)):
            rd = child(row, "rd", meta={**row["meta"], "origin": "rd", "description": desc, "summary_seed": seed})
            if desc:
                out.append(sft_row({**rd, "instruction": desc}))
            else:
                out.append(Rejected(rd, why, "the summary of this code held no description"))
        return out

    def _write_diversity(self) -> None:
        from synthkit.eval.diversity import diversity_report

        stage_dir = self.ctx.stage_dir
        if not (stage_dir / rundir.DATA).is_dir():
            return
        rows = list(rundir.iter_rows(stage_dir / rundir.DATA))
        dropped = list(rundir.iter_rows(stage_dir / rundir.REJECTED))
        sampled = [(task_id(r), r["meta"].get("description")) for r in rows + dropped
                   if (r.get("meta") or {}).get("origin") == "sample"]
        tasks = {task_id(r) for r in rows} | {task_id(r) for r in dropped}
        self.diversity = {"stage": self.name, "n": self.config.samples, "describe": self.config.describe,
                          **diversity_report(rows, sorted(tasks), sampled_from=sampled)}
        rundir.write_json(stage_dir / "diversity.json", self.diversity)
        log.info("rft_sample: %s", {k: v for k, v in self.diversity.items() if k != "per_task"})

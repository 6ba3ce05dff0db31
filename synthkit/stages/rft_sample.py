"""rft_sample: the RFT and RFT+RD baselines of GiFT (arXiv 2502.11466).

Each input row is a task (``load_seeds`` with ``tasks:``; see
``gibbs_resample``). Rejection-sampling fine-tuning: sample ``n`` codes per
task from the **seed** description, run them in the sandbox against the
task's tests, and keep the passing ones, each paired with the seed
description (``instruction``, ``messages``). ``describe: true`` is RFT+RD:
every kept code also gets a generated description (the summary prompt of
``gibbs_resample``, one batched call per shard), and that (description, code)
pair is one more row, id ``<sample id>/rd``, ``meta.origin: rd``.

A fair comparison with GiFT spends the same samples per task: ``n`` defaults
to ``budget.steps × budget.k`` (GiFT's T × k; ``budget`` defaults to GiFT's
reference 20 × 3 = 60). Setting ``n`` overrides it.

Rows, as in ``gibbs_resample``: id ``<task>/<checkpoint>-<sample>``, ``code``,
``response``, ``verify``, ``scores.verify``, ``meta`` with ``task_id``,
``sample``, ``description`` (the seed description), ``prompt`` (what
``perplexity_select`` scores under), ``seed``, the checkpoint provenance and
``origin: sample``. ``include_seed`` (default) adds the task's seed pair,
``<task>/seed`` (``meta.origin: seed``), once (with the first checkpoint).
Rejected: failing samples (the sandbox status, or ``no_code``), tasks without
a description or tests (``no_description``, ``no_tests``), and RD rows whose
summary was empty (``empty_summary``).

It is a row-local sampling stage (``CheckpointSampler``): one batched
``generate`` call per shard and checkpoint, one sandbox run for all of a
shard's samples; a killed run resumes at the first unsaved shard. The sampling
seed is ``sampler.seed`` of the shard. When the stage ends it writes
``diversity.json`` (``synthkit.eval.diversity``) over everything it kept, also
on ``self.diversity`` and in ``extra_stats()``.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from synthkit.core import rundir
from synthkit.core.record import Rejected, Row, child
from synthkit.core.registry import register_stage
from synthkit.core.stage import Stage
from synthkit.stages.gibbs_resample import CodeSampler, CodeSamplingConfig, seed_row, sft_row, split_tasks, task_id

log = logging.getLogger(__name__)


class Budget(BaseModel):
    """GiFT's sampling budget per task, which RFT matches: n = steps × k."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(20, ge=1)   # GiFT's T
    k: int = Field(3, ge=1)        # GiFT's samples per step


@register_stage("rft_sample")
class RftSample(Stage):
    """RFT: n codes per task from the seed description, keep the passing ones; describe: true adds RFT+RD."""

    reads = ("instruction", ("tests", "io_tests"))
    writes = ("id", "code", "response", "messages", "verify", "scores", "meta")

    class Config(CodeSamplingConfig):  # + the shared sampling, prompt and sandbox keys of gibbs_resample
        n: int | None = Field(None, ge=1)              # codes per task and checkpoint; None: budget.steps * budget.k
        budget: Budget = Field(default_factory=Budget)  # GiFT's T and k, for an equal sampling budget
        describe: bool = False                          # RFT+RD: add (generated description, code) rows

        @property
        def samples(self) -> int:
            return self.n if self.n is not None else self.budget.steps * self.budget.k

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
        for task, prompt, comps in zip(tasks, prompts, self.sampler.llm.generate(prompts, params)):
            for j, comp in enumerate(comps):
                item = codes.sample_row(task, f"{ci}-{j}", comp, prompt, task["instruction"], params, sample=j)
                (out if isinstance(item, Rejected) else samples).append(item)
        kept = []
        for item in codes.verify(samples):
            if isinstance(item, Rejected):
                out.append(item)
            else:
                kept.append(item[0])
        out += kept
        if self.config.describe:
            out += self._describe(kept, tasks)
        return out

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

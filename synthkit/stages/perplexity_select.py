"""perplexity_select: GiFT's perplexity-weighted draw from each task's pool of codes.

Input: ``gibbs_resample`` or ``rft_sample`` rows (pooled codes with ``meta.task_id``,
``body``, ``meta.header``, ``meta.prompt``, ``response``; seed pairs with
``meta.origin: seed``). Scores each pooled code's perplexity (exp of the mean NLL of
``body`` given ``meta.header``; ``score: response``: of ``response`` given the
prompt) in one ``logprobs`` call of the stage's (base) model into
``scores.perplexity``; ``check()`` refuses a model an earlier round trained. Draws
``draws`` codes per task with replacement, with probability softmax(``alpha`` · ppl)
or uniformly (seeded per task), each an SFT row with the seed description, id
``<task>/draw-<j>``; seed pairs pass through with ``include_seed``. Rejected:
``not_drawn``, ``no_prompt``, ``empty_code``, ``seed_excluded``. Writes
``diversity.json``. Whole-dataset: a killed run redoes it (the LLM cache answers).
Details: docs/methods/gift.md.
"""

from __future__ import annotations

import logging
import math
import random
from typing import Any, Literal

from pydantic import Field

from synthkit.core import rundir
from synthkit.core.record import Rejected, Row
from synthkit.core.registry import register_stage
from synthkit.core.sampling import derive_seed
from synthkit.core.stage import LLMStageConfig, WholeStage
from synthkit.errors import ConfigError, SynthkitError
from synthkit.stages.gibbs_resample import sft_row, task_id

log = logging.getLogger(__name__)


def draw_probabilities(perplexities: list[float], alpha: float, weighting: str = "softmax") -> list[float]:
    """softmax(alpha · ppl) over one task's pool (uniform with ``weighting: uniform``)."""
    if weighting == "uniform" or not perplexities:
        return [1.0 / len(perplexities)] * len(perplexities) if perplexities else []
    logits = [alpha * p for p in perplexities]
    top = max(logits)
    weights = [math.exp(x - top) for x in logits]
    total = sum(weights)
    return [w / total for w in weights]


@register_stage("perplexity_select")
class PerplexitySelect(WholeStage):
    """GiFT: per task, draw s pooled codes with replacement, weighted by softmax(alpha * base-model perplexity)."""

    reads, writes = ("meta",), ("id", "scores", "messages", "meta")  # + the scored column (columns_read)

    def columns_read(self) -> list:
        return [*super().columns_read(), ("body" if self.config.score == "body" else "response", "score")]

    class Config(LLMStageConfig):  # + llm: the base model that scores (never a trained checkpoint)
        draws: int = Field(8, ge=1, description="s: codes drawn per task, with replacement")
        alpha: float = Field(2.0, description="softmax(alpha * ppl); 0 = uniform")
        weighting: Literal["softmax", "uniform"] = Field("softmax", description=(
            "softmax: draw probability softmax(alpha * ppl); uniform: every passing code alike"))
        include_seed: bool = Field(True, description="keep the seed pairs in the training set")
        score: Literal["body", "response"] = Field("body", description=(
            "body given meta.header (reference); response given meta.prompt"))

    def __init__(self, config, ctx) -> None:
        super().__init__(config, ctx)
        self.diversity: dict[str, Any] = {}

    def check(self) -> None:
        cfg = self.ctx.llm_config
        if cfg is None:
            raise ConfigError(f"stages.{self.ctx.index}: perplexity_select needs an LLM: set `llm:`")
        if cfg.model in self.ctx.checkpoints:
            raise ConfigError(f"stages.{self.ctx.index}.llm.model: {cfg.model} was trained by an earlier round; "
                              "GiFT scores perplexity under the base model")
        if cfg.backend == "openai":
            llm = self.ctx.make_llm()
            try:
                llm.logprobs(["def f():"], ["\n    return 1"])
            except SynthkitError as e:
                raise ConfigError(f"stages.{self.ctx.index}.llm: perplexity needs prompt logprobs: {e}") from None
            finally:
                llm.close()

    def extra_stats(self) -> dict[str, Any]:
        from synthkit.eval.diversity import summary

        return {"diversity": summary(self.diversity)} if self.diversity else {}

    def process_all(self, dataset) -> tuple[list[Row], list[Rejected]]:
        from synthkit.eval.diversity import diversity_report

        rows = dataset.to_list()
        seeds = [r for r in rows if (r.get("meta") or {}).get("origin") == "seed"]
        pool, rejected = self._scored([r for r in rows if (r.get("meta") or {}).get("origin") != "seed"])
        kept: list[Row] = []
        if self.config.include_seed:
            kept += [sft_row(r) if r.get("code") else r for r in seeds]
        else:
            rejected += [Rejected(r, "seed_excluded", "include_seed is false") for r in seeds]
        by_task: dict[str, list[Row]] = {}
        for row in pool:
            by_task.setdefault(task_id(row), []).append(row)
        for tid, items in by_task.items():
            drawn, dropped = self._draw(tid, items)
            kept += drawn
            rejected += dropped
        tasks = {task_id(r) for r in rows}
        self.diversity = {"stage": self.name, "draws": self.config.draws, "alpha": self.config.alpha,
                          "weighting": self.config.weighting, **diversity_report(kept, sorted(tasks))}
        rundir.write_json(self.ctx.stage_dir / "diversity.json", self.diversity)
        log.info("perplexity_select: %d drawn rows from %d pooled codes of %d tasks", len(kept) - len(seeds),
                 len(pool), len(by_task))
        return kept, rejected

    def _scored(self, rows: list[Row]) -> tuple[list[Row], list[Rejected]]:
        """Rows with ``scores.perplexity`` (one logprobs call), and those that cannot be scored."""
        key, field = ("header", "body") if self.config.score == "body" else ("prompt", "response")
        ready, rejected = [], []
        for row in rows:
            prompt, text = (row.get("meta") or {}).get(key), row.get(field)
            if not prompt:
                rejected.append(Rejected(row, "no_prompt", f"meta.{key} is missing: rows must come from a "
                                                           "sampling stage (gibbs_resample, rft_sample)"))
            elif not (isinstance(text, str) and text.strip()):
                rejected.append(Rejected(row, "empty_code", f"`{field}` is empty"))
            else:
                ready.append(row)
        if not ready:
            return [], rejected
        llm = self.ctx.make_llm()
        try:
            scores = llm.logprobs([r["meta"][key] for r in ready], [r[field] for r in ready])
        finally:
            llm.close()
        scored = []
        for row, lp in zip(ready, scores):
            if lp.n_tokens == 0:
                rejected.append(Rejected(row, "empty_code", "no token of the text was scored"))
                continue
            scored.append({**row, "scores": {**(row.get("scores") or {}), "perplexity": round(lp.perplexity, 6)}})
        return scored, rejected

    def _draw(self, tid: str, items: list[Row]) -> tuple[list[Row], list[Rejected]]:
        cfg = self.config
        probs = draw_probabilities([r["scores"]["perplexity"] for r in items], cfg.alpha, cfg.weighting)
        rng = random.Random(derive_seed(self.ctx.seed, self.ctx.index, "draw", tid))
        picks = rng.choices(range(len(items)), weights=probs, k=cfg.draws)
        drawn = []
        for j, i in enumerate(picks):
            src = items[i]
            meta = {**src["meta"], "origin": "draw", "drawn_from": src["id"], "draw": j,
                    "draw_probability": round(probs[i], 6), "stage": self.name}
            drawn.append(sft_row({**src, "id": f"{tid}/draw-{j}", "meta": meta}))
        chosen = set(picks)
        left = [Rejected(r, "not_drawn", f"perplexity {r['scores']['perplexity']:.4f}, probability {p:.4f}")
                for i, (r, p) in enumerate(zip(items, probs)) if i not in chosen]
        return drawn, left

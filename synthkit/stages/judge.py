"""judge: score each exercise on several aspects with an LLM judge, keep the best.

``aspects`` maps a name to ``{weight, rubric}`` (or a weight, for a built-in rubric:
``synthkit.prompts.judge``); each aspect is scored 0-9 and every kept row gets
``scores["judge/<aspect>"]`` and ``scores["judge"]`` (the weighted mean).
``style`` (chat or completion), ``mode`` (``per_aspect`` prompts, or one ``joint``
JSON answer) and ``scoring`` (``sample``: the written digit; ``expected``: G-Eval's
sum of d * p(d) from ``top_logprobs``, checked before the run) choose how it asks.
An unreadable answer is asked again (``max_retries``), then rejected as
``judge_unparseable``; rows without ``instruction`` or code as ``missing_fields``;
rows with ``scores["judge"] < min_score`` as ``below_threshold``. Row-local: each
shard is saved when scored. Keeping a top share is ``select_top``'s job. The
stage's ``llm:`` is laid over the pipeline's. Details: docs/methods/scoder.md.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from synthkit.core.record import Rejected, Row, with_meta
from synthkit.core.registry import register_stage
from synthkit.core.sampling import derive_seed
from synthkit.core.stage import LLMStageConfig, Stage
from synthkit.errors import ConfigError
from synthkit.llm.base import SamplingParams
from synthkit.prompts import judge as prompts
from synthkit.prompts.answers import ParseError

log = logging.getLogger(__name__)


class Aspect(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight: float = Field(1.0, ge=0, description="weight of this aspect in the combined score")
    rubric: str | None = Field(None, description="None: the built-in rubric of that name")


def _default_aspects() -> dict[str, Aspect]:
    return {a: Aspect(weight=w) for a, w in prompts.DEFAULT_WEIGHTS.items()}


@register_stage("judge")
class Judge(Stage):
    """Score rows 0-9 on several aspects with an LLM judge; keep those scoring at least min_score."""

    reads, writes = ("instruction", ("code", "response")), ("scores", "meta")

    class Config(LLMStageConfig):
        former_keys = {"threshold": "min_score",
                       "top_fraction": "a select_top stage after the judge, {stage: select_top, fraction: F}"}

        aspects: dict[str, Aspect] = Field(default_factory=_default_aspects, description=(
            "name -> {weight, rubric} or weight"))
        mode: Literal["per_aspect", "joint"] = Field("per_aspect", description=(
            "one prompt per aspect, or one JSON answer"))
        scoring: Literal["sample", "expected"] = Field("sample", description="read the digit, or G-Eval expectation")
        style: Literal["chat", "completion"] = Field("chat", description=(
            "completion: plain text ending in \"<aspect> score (0-9):\""))
        min_score: float | None = Field(None, ge=0, le=9, description="keep rows with combined score >= this")
        temperature: float = Field(0.0, ge=0, description="sampling temperature of the first attempt")
        retry_temperature: float = Field(0.7, ge=0, description="retries (a greedy retry would repeat itself)")
        max_tokens: int | None = Field(None, ge=1, description="default: 16 per_aspect, 16 + 12/aspect joint")
        top_logprobs: int = Field(20, ge=1, le=100, description="alternatives per token (expected mode)")
        max_retries: int = Field(2, ge=0, description="re-asks of an unparseable answer, at retry_temperature")
        weights: dict[str, float] | None = Field(None, description=(
            "aspect name -> weight, laid over the aspects' own weights (e.g. the block `synthkit judge fit` "
            "prints); every name must be an aspect"))

        @field_validator("aspects", mode="before")
        @classmethod
        def _weights(cls, v: Any) -> Any:
            if isinstance(v, dict):
                return {k: {"weight": w} if isinstance(w, (int, float)) and not isinstance(w, bool) else w
                        for k, w in v.items()}
            return v

        @field_validator("aspects")
        @classmethod
        def _rubrics(cls, v: dict[str, Aspect]) -> dict[str, Aspect]:
            if not v:
                raise ValueError("at least one aspect is needed")
            for name, a in v.items():
                if a.rubric is None and name not in prompts.RUBRICS:
                    raise ValueError(f"aspect '{name}' has no built-in rubric; give {{weight, rubric}} "
                                     f"(built-in: {', '.join(prompts.RUBRICS)})")
            if sum(a.weight for a in v.values()) <= 0:
                raise ValueError("aspect weights sum to 0")
            return v


    def __init__(self, config, ctx) -> None:
        super().__init__(config, ctx)
        given = self.config.weights or {}
        unknown = sorted(set(given) - set(self.config.aspects))
        if unknown or any(w < 0 for w in given.values()) or (given and sum(
                given.get(k, a.weight) for k, a in self.config.aspects.items()) <= 0):
            raise ConfigError(f"stages.{ctx.index}.weights: {unknown or 'a weight'} "
                              f"{'is not an aspect' if unknown else 'must be >= 0, not all 0'}; aspects: "
                              f"{', '.join(self.config.aspects)}")
        raw = {k: given.get(k, a.weight) for k, a in self.config.aspects.items()}
        self.weights = {k: w / sum(raw.values()) for k, w in raw.items()}
        self.rubrics = {k: a.rubric or prompts.RUBRICS[k] for k, a in self.config.aspects.items()}
        self.llm = None

    def _llm(self):
        if self.llm is None:
            self.llm = self.ctx.make_llm()
        return self.llm

    def check(self) -> None:
        """With ``scoring: expected`` over HTTP, ask once whether the server returns top logprobs."""
        cfg = self.ctx.llm_config
        if self.config.scoring != "expected" or cfg is None or cfg.backend != "openai":
            return  # the in-process backends always return them
        probe = self._llm().generate(["Score (0-9):"], SamplingParams(n=1, max_tokens=1, temperature=0.0,
                                                                       top_logprobs=1))[0][0]
        if not probe.top_logprobs:
            raise ConfigError(f"stages.{self.ctx.index}.scoring: 'expected' needs token logprobs, but the "
                              f"server at {cfg.base_url} returned none for {cfg.model}; use a server that "
                              "supports logprobs (vLLM does) or set scoring: sample")

    def teardown(self) -> None:
        if self.llm is not None:
            self.llm.close()
            self.llm = None

    # --- score, then apply min_score ------------------------------------------------
    def process(self, batch: list[Row]) -> list[Row | Rejected]:
        return [self._min_score(r) for r in self._score_batch(batch)]

    def _min_score(self, r: Row | Rejected) -> Row | Rejected:
        t = self.config.min_score
        if isinstance(r, Rejected) or t is None or r["scores"]["judge"] >= t:
            return r
        return Rejected(r, "below_threshold", f"{r['scores']['judge']:.3f} < min_score {t}")

    # --- scoring --------------------------------------------------------------------
    def _score_batch(self, batch: list[Row]) -> list[Row | Rejected]:
        out: list[Row | Rejected] = []
        ready: list[Row] = []
        for row in batch:
            if not row.get("instruction") or not (row.get("code") or row.get("response")):
                out.append(Rejected(row, "missing_fields", "judge needs `instruction` and `code` (or `response`)"))
            else:
                ready.append(row)
        if not ready:
            return out
        aspects = list(self.config.aspects)
        tasks = [(i, a) for i in range(len(ready)) for a in aspects] if self.config.mode == "per_aspect" \
            else [(i, None) for i in range(len(ready))]
        results = self._ask(ready, tasks)
        llm_id = self._llm().model_id
        for i, row in enumerate(ready):
            per, errors = {}, []
            for (j, a), res in results.items():
                if j != i:
                    continue
                if isinstance(res, ParseError):
                    errors.append(f"{a or 'joint'}: {res.reason} ({res.detail})")
                else:
                    per.update(res)
            if errors:
                out.append(Rejected(row, "judge_unparseable", "; ".join(errors)))
                continue
            combined = sum(self.weights[a] * per[a] for a in aspects)
            scores = {**(row.get("scores") or {}), **{f"judge/{a}": round(per[a], 4) for a in aspects},
                      "judge": round(combined, 4)}
            out.append(with_meta({**row, "scores": scores}, judge_model=llm_id,
                                 judge_mode=f"{self.config.mode}/{self.config.scoring}"))
        return out

    def _ask(self, rows: list[Row], tasks: list[tuple[int, str | None]]) -> dict[tuple, Any]:
        """Each task's parsed {aspect: score} or its last ParseError, after retries."""
        c = self.config
        joint = c.mode == "joint"
        max_tokens = c.max_tokens or (16 + 12 * len(c.aspects) if joint else 16)
        results: dict[tuple, Any] = {}
        pending = list(tasks)
        for attempt in range(c.max_retries + 1):
            if not pending:
                break
            prompts_ = [self._prompt(rows[i], a) for i, a in pending]
            params = SamplingParams(
                n=1, max_tokens=max_tokens, top_logprobs=c.top_logprobs if c.scoring == "expected" else 0,
                temperature=c.temperature if attempt == 0 else max(c.temperature, c.retry_temperature),
                seed=derive_seed(self.ctx.seed, self.ctx.index, rows[0]["id"], attempt))
            answers = self._llm().generate(prompts_, params)
            still = []
            for task, comps in zip(pending, answers):
                comp = comps[0]
                self.ctx.tokens_generated += comp.tokens
                results[task] = self._parse(comp, task[1])
                if isinstance(results[task], ParseError):
                    still.append(task)
            pending = still
        return results

    def _prompt(self, row: Row, aspect: str | None):
        completion = self.config.style == "completion"
        text = prompts.joint(row, self.rubrics, completion) if aspect is None \
            else prompts.per_aspect(row, aspect, self.rubrics[aspect], completion)
        return text if completion else [{"role": "user", "content": text}]

    def _parse(self, comp, aspect: str | None) -> dict[str, float] | ParseError:
        expected = self.config.scoring == "expected"
        if expected and comp.top_logprobs is None:
            raise ConfigError(f"stages.{self.ctx.index}.scoring: 'expected' needs token logprobs, but "
                              f"{self._llm().model_id} returned none; use a backend that supports "
                              "top_logprobs or set scoring: sample")
        aspects = list(self.config.aspects)
        text = comp.text if isinstance(comp.text, str) else ""
        if self.config.style == "completion":  # the prompt opened the answer; parse it whole
            text = prompts.PREFIX["per_aspect" if aspect else "joint"] + text
        if aspect is not None:
            s = prompts.expected_score(comp.top_logprobs) if expected else prompts.parse_score(text)
            return s if isinstance(s, ParseError) else {aspect: s}
        sampled = prompts.parse_joint_scores(text, aspects)
        if not expected or isinstance(sampled, ParseError):
            return sampled
        return prompts.joint_expected_scores(comp.text, comp.top_logprobs, aspects)

"""synthesize: seed snippet -> (problem, solution, tests), sampled from several checkpoints.

Each pass is one checkpoint (``core.sampling``: ``checkpoints:``, else the llm's
model; ``use_last_checkpoints: M`` in rounds); one model is in memory at a time and
a killed run resumes inside its checkpoint. ``style: chat`` sends a chat prompt;
``style: completion`` a few-shot document ending in an opened ``[Problem]`` header.
Each seed row yields ``n`` answers per checkpoint, parsed by
``prompts.synthesize.parse_synthesis`` into ``instruction``, ``response``, ``code``,
``tests``, ``entry_point``, ``messages`` and ``synthesis`` (``{style, prompt,
answer}``, what rounds train the synthesizer on); ids are
``<seed id>/<checkpoint index>-<k>``. An unparseable answer is rejected with the
parser's reason (raw answer kept in ``response``); a row without seed text as
``no_seed``. Seeds derive from (pipeline seed, stage, checkpoint, first row id).
Details: docs/methods/scoder.md.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import Field, model_validator

from synthkit.core.record import Rejected, Row, child
from synthkit.core.registry import register_stage
from synthkit.core.sampling import CheckpointSampler, SamplingConfig
from synthkit.core.stage import Stage, read_template
from synthkit.llm.base import SamplingParams
from synthkit.prompts.answers import ParseError
from synthkit.prompts.synthesize import PREFIX, parse_synthesis

log = logging.getLogger(__name__)


@register_stage("synthesize")
class Synthesize(Stage):
    """Seed snippet -> problem, reference solution and tests (OSS-Instruct), from several checkpoints."""

    reads = ()  # `field` (columns_read)
    writes = ("id", "instruction", "response", "code", "tests", "entry_point", "messages", "synthesis", "meta")

    def columns_read(self) -> list:
        return [(self.config.field, "field")]

    class Config(SamplingConfig):  # + checkpoints, use_last_checkpoints
        former_keys = {"seed_field": "field"}
        n: int = Field(2, ge=1, description="answers per seed and checkpoint")
        temperature: float = Field(0.8, ge=0, description="sampling temperature (0: greedy)")
        top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling: smallest token set with this probability")
        max_tokens: int = Field(768, ge=16, description="new tokens per answer")
        field: str = Field("seed", description="column holding the seed snippet")
        style: Literal["chat", "completion"] = Field("chat", description=(
            "completion: few-shot text for small/base models"))
        template: str | None = Field(None, description="inline prompt with {seed}; default: the built-in one")
        template_file: str | None = Field(None, description=(
            "or: a prompt file with {seed} (relative to the YAML's folder)"))
        system: str | None = Field(None, description="chat style: a system turn sent before the prompt "
                                   "(kept in the row's `synthesis` sample)")
        max_seed_chars: int = Field(4000, ge=100, description="longer seeds are cut (at a line end)")
        max_answer_chars: int = Field(40_000, ge=1000, description="longer answers are rejected (too_long)")

        @model_validator(mode="after")
        def _one_template(self):
            if self.template is not None and self.template_file is not None:
                raise ValueError("set `template` (inline) or `template_file` (a path), not both")
            if self.template is not None and "{seed}" not in self.template:
                raise ValueError("template: the prompt needs a {seed} placeholder (a prompt file goes in "
                                 "`template_file`)")
            if self.system is not None and self.style != "chat":
                raise ValueError("system: a system turn needs style: chat (a completion prompt has no turns)")
            return self

    def __init__(self, config, ctx) -> None:
        super().__init__(config, ctx)
        from synthkit.prompts.synthesize import FEW_SHOT, TEMPLATE

        self.template = (read_template(self.config.template_file, ctx, "{seed}") or self.config.template
                         or (FEW_SHOT if self.config.style == "completion" else TEMPLATE))
        self.sampler = CheckpointSampler(self.name, self.ctx, self.config.checkpoints,
                                         self.config.use_last_checkpoints)

    def process(self, batch: list[Row]) -> list[Row | Rejected]:
        from synthkit.prompts.synthesize import STOP, render

        out: list[Row | Rejected] = []
        ready, prompts = [], []
        for row in batch:
            seed = row.get(self.config.field)
            if not isinstance(seed, str) or not seed.strip():
                out.append(Rejected(row, "no_seed", f"column '{self.config.field}' is missing or empty"))
                continue
            ready.append(row)
            text = render(seed, self.template, self.config.max_seed_chars)
            system = [{"role": "system", "content": self.config.system}] if self.config.system else []
            prompts.append(text if self.config.style == "completion" else [*system, {"role": "user", "content": text}])
        if not ready:
            return out
        c = self.config
        params = SamplingParams(n=c.n, temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_tokens,
                                stop=STOP if c.style == "completion" else (), seed=self.sampler.seed(ready))
        answers = self.sampler.llm.generate(prompts, params)
        for row, prompt, completions in zip(ready, prompts, answers):
            for k, comp in enumerate(completions):
                self.ctx.tokens_generated += comp.tokens
                out.append(self._row(row, k, comp, params, prompt))
        return out

    def _row(self, row: Row, k: int, comp, params: SamplingParams, prompt: Any) -> Row | Rejected:
        meta = self.sampler.meta(row, sample=k, temperature=params.temperature, top_p=params.top_p,
                                 seed=params.seed, finish_reason=comp.finish_reason, tokens=comp.tokens)
        text = comp.text
        if self.config.style == "completion" and self.template.endswith(PREFIX) and isinstance(text, str):
            text = PREFIX + text  # the prompt opened the first section; the answer continues it
        parsed = parse_synthesis(text, comp.finish_reason, self.config.max_answer_chars)
        suffix = f"{self.sampler.index}-{k}"
        if isinstance(parsed, ParseError):
            raw = text if isinstance(text, str) else repr(text)
            return Rejected(child(row, suffix, response=raw[: self.config.max_answer_chars], meta=meta),
                            parsed.reason, parsed.detail)
        turns = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        sample = {"style": self.config.style, "prompt": turns, "answer": comp.text}
        return child(row, suffix, instruction=parsed.instruction, response=parsed.response,
                     code=parsed.code, tests=parsed.tests, entry_point=parsed.entry_point,
                     messages=[{"role": "user", "content": parsed.instruction},
                               {"role": "assistant", "content": parsed.response}], synthesis=sample, meta=meta)

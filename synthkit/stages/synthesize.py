"""synthesize: seed snippet -> (problem, solution, tests), sampled from several checkpoints.

SCoder's multi-checkpoint sampling. Each pass is one checkpoint (a local path,
a hub id, or ``embedded``; default the pipeline llm's model; in an iterative
run ``use_last_checkpoints: M`` samples from the last M models earlier rounds
registered). Only one model is in memory at a time: ``open_pass`` loads it,
``close_pass`` frees it, and the runner saves one output shard per
(checkpoint, input shard), so a killed run resumes inside its checkpoint.

``style: chat`` (default, for instruction-following models) sends the
instruction prompt as a chat; ``style: completion`` sends a few-shot document
that ends with the opened ``[Problem]`` header, which the answer continues
(small models such as the embedded 135M one rarely follow the chat format),
and stops at the next ``Code snippet:``.

Each seed row yields ``n`` answers per checkpoint; each answer is parsed by
``synthkit.prompts.synthesize.parse_synthesis`` into ``instruction``, ``response`` (the
[Solution] section), ``code``, ``tests``, ``entry_point`` and ``messages``
(user: instruction, assistant: response), and ``synthesis``: the synthesis
sample as the synthesizer saw it, ``{style, prompt, answer}`` (``prompt`` the
chat turns sent, the ``system:`` turn included, or for ``style: completion``
one user turn holding the whole document; ``answer`` the raw answer text).
Self-distillation rounds train the synthesizer on ``prompt + answer``
(``iterations.train_on: synthesis``); ``messages`` stays the instruction
dataset the code model is trained on. Row ids are
``<seed id>/<checkpoint index>-<k>``. An answer that cannot be parsed is
rejected with the parser's reason (``no_problem``, ``no_tests``, ...), the raw
answer kept in the rejected row's ``response``. Rows without a usable seed
text are rejected as ``no_seed``.

The sampling seed of a call is derived from (pipeline seed, stage index,
checkpoint index, first row id), so a resumed run draws the same samples.
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

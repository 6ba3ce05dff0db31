"""`generate`: fill a prompt template from each row and sample completions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from synthkit.core.record import Rejected, Row, child
from synthkit.core.registry import register_stage
from synthkit.core.sampling import CheckpointSampler, SamplingConfig
from synthkit.core.stage import Stage, read_template
from synthkit.llm.base import SamplingParams


@register_stage("generate")
class Generate(Stage):
    """Prompt template -> n completions per row, from one or more checkpoints."""

    reads, writes = (), ("id", "response", "messages", "meta")  # + `output`; reads the template's fields

    def columns_read(self) -> list:
        from synthkit.core.columns import template_fields

        return [(c, f"template placeholder {{{c}}}") for c in template_fields(self.template)]

    def columns_written(self) -> tuple[str, ...]:
        return (*self.writes, self.config.output)

    class Config(SamplingConfig):  # + checkpoints, use_last_checkpoints
        former_keys = {"chat": "style: chat|completion"}
        template: str = Field("{seed}", description="inline str.format template over the row's columns")
        template_file: str | None = Field(None, description=(
            "or: a file holding the template (relative to the YAML's folder)"))
        system: str | None = Field(None, description="optional system message (chat style)")
        style: Literal["chat", "completion"] = Field("chat", description=(
            "chat: a user message; completion: raw text to continue"))
        n: int = Field(1, ge=1, description="completions per row and checkpoint")
        temperature: float = Field(0.8, ge=0, description="sampling temperature (0: greedy)")
        top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling: smallest token set with this probability")
        max_tokens: int = Field(256, ge=1, description="new tokens per completion")
        stop: list[str] = Field(default_factory=list, description="strings that end a completion (not included)")
        output: str = Field("response", description="column that receives the completion")

    def __init__(self, config, ctx) -> None:
        super().__init__(config, ctx)
        self.template = read_template(self.config.template_file, ctx) or self.config.template
        self.sampler = CheckpointSampler(self.name, self.ctx, self.config.checkpoints,
                                         self.config.use_last_checkpoints)

    def _prompt(self, row: Row):
        text = self.template.format_map(row)
        if self.config.style == "completion":
            return text
        system = [{"role": "system", "content": self.config.system}] if self.config.system else []
        return system + [{"role": "user", "content": text}]

    def process(self, batch: list[Row]) -> list[Row | Rejected]:
        out: list[Row | Rejected] = []
        ready, prompts = [], []
        for row in batch:
            try:
                prompts.append(self._prompt(row))
                ready.append(row)
            except (KeyError, IndexError, ValueError) as e:
                out.append(Rejected(row, "template_error", f"template needs {e}"))
        if not ready:
            return out
        sampler = self.sampler
        params = SamplingParams(n=self.config.n, temperature=self.config.temperature, top_p=self.config.top_p,
                                max_tokens=self.config.max_tokens, stop=tuple(self.config.stop),
                                seed=sampler.seed(ready))
        for row, prompt, completions in zip(ready, prompts, sampler.llm.generate(prompts, params)):
            for k, c in enumerate(completions):
                self.ctx.tokens_generated += c.tokens
                suffix = f"{sampler.index}-{k}"
                if not c.text.strip():
                    out.append(Rejected(child(row, suffix), "empty_completion"))
                    continue
                instruction = prompt if isinstance(prompt, str) else prompt[-1]["content"]
                meta = sampler.meta(row, sample=k, temperature=params.temperature, top_p=params.top_p,
                                    seed=params.seed, finish_reason=c.finish_reason, tokens=c.tokens)
                out.append(child(row, suffix, **{self.config.output: c.text}, meta=meta,
                                 messages=[{"role": "user", "content": instruction},
                                           {"role": "assistant", "content": c.text}]))
        return out

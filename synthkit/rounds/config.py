"""The ``iterations:`` block: rounds, what they train on, the bootstrap and the final step.

Validated in full (the nested ``train`` configs included) before the first
round samples anything, so a bad key fails at load time with its path.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synthkit.core.config import format_validation_error
from synthkit.errors import ConfigError


class BootstrapConfig(BaseModel):
    """Before round 1: train the synthesizer on a stronger teacher's synthesis samples."""

    model_config = ConfigDict(extra="forbid")

    llm: dict[str, Any] | None = Field(None, description=(
        "the teacher: an `llm:` block laid over the synthesize stage's (usually backend: openai with base_url "
        "and model); it synthesizes from `seeds` snippets of the pool and its answers pass the pipeline's "
        "filters (parse, verify_tests, judge, ...; not filter_influence or save)"))
    file: str | None = Field(None, description=(
        "instead of a live teacher: a .jsonl/.json/.parquet file of teacher synthesis samples, each row with "
        "`synthesis: {prompt, answer}` (what synthesize writes) or `prompt` (text or chat turns) and `answer`; "
        "trained on as given (relative to the pipeline file's folder)"))
    seeds: int = Field(8, ge=1, description="snippets of the pool the teacher synthesizes from (load_seeds limit, "
                       "shuffled)")
    n: int | None = Field(None, ge=1, description="teacher answers per snippet (default: the synthesize stage's n)")
    train: dict[str, Any] | None = Field(None, description="a `synthkit train` config for the bootstrap training "
                                         "(default: iterations.train)")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.llm is None) == (self.file is None):
            raise ValueError("give the teacher as `llm:` (a live model) or `file:` (its synthesis samples), "
                             "exactly one of them")
        return self


class EvalSpec(BaseModel):
    """How the final code model and its base are evaluated (``synthkit eval``'s options)."""

    model_config = ConfigDict(extra="forbid")

    tasks: str = Field("bundled:test", description="held-out task set (a synthkit.data.tasksets name or a file)")
    limit: int | None = Field(None, ge=1, description="evaluate on the first N tasks only")
    n: int = Field(10, ge=1, description="samples per task")
    k: list[int] = Field(default_factory=lambda: [1, 5, 10], min_length=1, description="k values of pass@k")
    m: int = Field(2, ge=1, description="Pass@k^(m): a task counts only if at least m of k samples pass")
    temperature: float = Field(0.8, ge=0, description="sampling temperature")
    max_tokens: int = Field(512, ge=1, description="new tokens per sample")
    style: Literal["chat", "completion"] = Field("chat", description="prompt as a chat or as text to continue")
    timeout_s: float = Field(5.0, gt=0, description="sandbox wall clock per program")


class FinalConfig(BaseModel):
    """After the rounds: the dataset from the last synthesizer, a code model trained on it, its evaluation."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="the code model's base (default: the pipeline llm's model)")
    llm: dict[str, Any] | None = Field(None, description=(
        "keys laid over the pipeline's llm to sample from the code models in the evaluation (e.g. backend)"))
    train: dict[str, Any] = Field(default_factory=dict, description=(
        "a `synthkit train` config for the code model (minus model/dataset/output_dir); it trains on the "
        "final dataset's `messages` (instruction -> solution)"))
    eval: EvalSpec = Field(default_factory=EvalSpec, description="pass@k and Pass@k^(m) of base and trained model")


class IterationsConfig(BaseModel):
    """Self-distillation rounds: run the stages, train on the output, repeat."""

    model_config = ConfigDict(extra="forbid")
    former_keys: ClassVar[dict[str, str]] = {"last_checkpoints": "use_last_checkpoints: on the sampling stage"}

    rounds: int = Field(2, ge=1, description="how many times the stages run")
    train: dict[str, Any] = Field(default_factory=dict, description=(
        "a `synthkit train` config (minus model/dataset/output_dir) for each round's training"))
    data: Literal["round", "accumulate"] = Field("round", description=(
        "round: train on this round's output; accumulate: on all rounds' output so far"))
    train_on: Literal["synthesis", "instruction"] | None = Field(None, description=(
        "synthesis: the synthesizer learns its kept synthesis samples (prompt with the seed snippet -> whole "
        "answer; SCoder); instruction: the rows' `messages` (GiFT, RFT). Default: synthesis when a synthesize "
        "stage makes the rows, else instruction"))
    bootstrap: BootstrapConfig | None = Field(None, description="train on a teacher's synthesis samples first")
    final: FinalConfig | None = Field(None, description=(
        "after the rounds: synthesize the dataset with the last synthesizer, train the code model on it, and "
        "report pass@k of base vs trained (final/ and method_report.json)"))

def parse_iterations(raw: dict[str, Any]) -> IterationsConfig:
    """Validate an ``iterations:`` block, its ``train`` configs included, so a bad
    training key fails before the first round samples anything."""
    from synthkit.train.config import parse_train_config

    try:
        cfg = IterationsConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, "iterations", IterationsConfig)) from None
    parse_train_config({**cfg.train, "dataset": "<set per round>"}, where="iterations.train")
    if cfg.bootstrap is not None and cfg.bootstrap.train is not None:
        parse_train_config({**cfg.bootstrap.train, "dataset": "<set>"}, where="iterations.bootstrap.train")
    if cfg.final is not None:
        parse_train_config({**cfg.final.train, "dataset": "<set>"}, where="iterations.final.train")
    return cfg


def resolve_train_on(it: IterationsConfig, stage_names: list[str]) -> str:
    """``train_on`` as configured, else synthesis when a synthesize stage makes the rows."""
    if it.train_on is not None:
        return it.train_on
    return "synthesis" if "synthesize" in stage_names else "instruction"

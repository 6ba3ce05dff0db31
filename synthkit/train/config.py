"""The trainer's configuration: one YAML file, every default on one screen.

``synthkit train CONFIG.yaml [-o key=value ...]`` reads a mapping of the fields below
(unknown keys fail, listing the allowed ones). Names are TRL's (``SFTConfig``) and
peft's (``LoraConfig``); relative paths resolve against the current directory; ``-o``
values are parsed as YAML. TRL's flat recipe format is read too (``trl_keys.py``).

``sft:`` passes any other ``trl.SFTConfig`` field through (also at the top level),
checked against TRL's dataclass at parse time: unknown, first-class (``sft.learning_rate``)
or derived (``sft.save_strategy``) keys fail with their path.

Exactly one of LoRA (the default) or full fine-tuning (``full: true``, no ``lora``).
"""

from __future__ import annotations

import copy
import difflib
import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from synthkit.errors import ConfigError

FORMER_KEYS = {"lr": "learning_rate", "epochs": "num_train_epochs", "batch_size": "per_device_train_batch_size",
               "grad_accum": "gradient_accumulation_steps", "max_seq_len": "max_length",
               "lr_scheduler": "lr_scheduler_type"}    # a draft's key -> TRL's name (named in the error only)

SCHEDULERS = Literal["linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                     "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay"]


class LoraSpec(BaseModel):
    """peft's ``LoraConfig`` fields, by peft's names."""

    model_config = ConfigDict(extra="forbid")
    former_keys: ClassVar[dict[str, str]] = {"alpha": "lora_alpha", "dropout": "lora_dropout"}

    r: int = Field(16, ge=1, description="adapter rank")
    lora_alpha: int = Field(32, ge=1, description="scaling numerator: the update is scaled by lora_alpha / r")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the adapter input")
    target_modules: list[str] | str | None = Field("all-linear", description=(
        "module names, \"all-linear\" (every linear but the LM head), or null: peft's default for the architecture"))
    modules_to_save: list[str] | None = Field(None, description=(
        "modules trained in full and saved beside the adapter (e.g. lm_head)"))
    use_rslora: bool = Field(False, description=(
        "rank-stabilised scaling lora_alpha / sqrt(r) instead of lora_alpha / r"))
    use_dora: bool = Field(False, description="DoRA: weight-decomposed LoRA (magnitude and direction)")


class IBSpec(BaseModel):
    """IB-FT: a variational information bottleneck on one decoder block's output.
    Loss = CE + beta * (KL + gamma * CE_bottleneck); see synthkit/train/ib.py.
    The defaults are the reference implementation's (arXiv 2510.16022)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="add the bottleneck terms to the loss")
    dim: int = Field(256, ge=1, description="size of the Gaussian latent")
    beta: float = Field(0.2, ge=0, description="the paper's alpha: weight of (KL + gamma * CE_bottleneck)")
    gamma: float = Field(0.01, ge=0, description="the paper's beta: weight of CE_bottleneck inside the beta term")
    layer: int | float = Field(0.625, description=(
        "float in (0, 1]: fraction of the depth (block round(f*L)); int: block k = hidden_states[k], -1 = the last"))
    kl_reduction: Literal["mean", "sum"] = Field("mean", description=(
        "mean: over tokens and latent dims (reference); sum: over dims, mean over labelled tokens"))
    head: Literal["direct", "final_norm"] = Field("direct", description=(
        "IB logits: lm_head(h_bar) (reference), or lm_head(final_norm(h_bar))"))
    input_norm: bool = Field(False, description=(
        "RMS-normalise h before W_mu, W_sigma (the reference reads h as it is)"))
    init: Literal["linear_default", "small"] = Field("linear_default", description=(
        "linear_default: nn.Linear's default for all three projections (reference); "
        "small: W_mu, W_sigma at std 0.1/sqrt(hidden) and zero bias, so the KL starts near 0"))

    @field_validator("layer", mode="before")
    @classmethod
    def _layer(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("expected a fraction of the depth in (0, 1] or a block number, not a boolean")
        if isinstance(v, float) and not 0 < v <= 1:
            raise ValueError(f"{v} is a float, so a fraction of the depth, which must be in (0, 1]; "
                             "write an integer for a block number (hidden_states index)")
        if isinstance(v, int) and v == 0:
            raise ValueError("0 is the embeddings, not a decoder block; blocks are 1..L, or -1..-L from the last")
        return v


class TrainConfig(BaseModel):
    """Everything ``synthkit train`` needs. YAML keys equal field names (TRL's and peft's)."""

    model_config = ConfigDict(extra="forbid")
    former_keys: ClassVar[dict[str, str]] = FORMER_KEYS

    model: str = Field("embedded", description=(
        "local HF dir, hub id, or \"embedded\" (SmolLM2-135M-Instruct); TRL: model_name_or_path"))
    dataset: str = Field(description="synthkit dataset: a save_to_disk dir, or a hub id; trains on `messages`")
    dataset_split: str = Field("train", description="split used when the dataset has several (or comes from the hub)")
    model_revision: str | None = Field(None, description=(
        "Hub branch, tag or commit of `model` (null: the default branch)"))
    dtype: Literal["auto", "float32", "bfloat16", "float16"] | None = Field(None, description=(
        "weights' dtype at load (null: bfloat16 with bf16, else float32); TRL: torch_dtype"))
    attn_implementation: str | None = Field(None, description=(
        "\"eager\", \"sdpa\", \"flash_attention_2\", ... (null: transformers' choice)"))
    output_dir: str = Field("out/train", description="checkpoints go to <output_dir>/checkpoint-<step>/")
    lora: LoraSpec | None = Field(default_factory=LoraSpec, description="LoRA adapter; null for full fine-tuning")
    full: bool = Field(False, description="full fine-tuning (all weights); needs `lora` unset or null")
    learning_rate: float = Field(2e-4, gt=0, description="peak learning rate (AdamW)")
    lr_scheduler_type: SCHEDULERS = Field("linear", description="decay after warmup")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description=(
        "fraction of the optimizer steps spent warming up linearly"))
    warmup_steps: float | None = Field(None, ge=0, description=(
        "as the installed TRL reads it: >= 1 steps, < 1 a ratio; replaces warmup_ratio"))
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    num_train_epochs: float = Field(1.0, gt=0, description="passes over the data; ignored when max_steps > 0")
    max_steps: int = Field(-1, description="optimizer steps; > 0 overrides num_train_epochs")
    per_device_train_batch_size: int = Field(8, ge=1, description=(
        "sequences (or packed blocks) per device per micro-batch"))
    gradient_accumulation_steps: int = Field(1, ge=1, description="micro-batches per optimizer step")
    max_length: int = Field(1024, ge=8, description=(
        "tokens per sequence: longer ones are truncated (or the packed block size)"))
    packing: bool = Field(False, description="pack sequences into max_length blocks (best-fit, padding-free)")
    save_steps: int = Field(0, ge=0, description=(
        "save every N optimizer steps (and at the end); 0 = at each epoch's end"))
    eval_fraction: float = Field(0.0, ge=0, lt=1, description=(
        "hold out this fraction of the tasks; eval loss at each checkpoint"))
    resume: Literal["auto", "never"] = Field("auto", description=(
        "auto: continue this config's run from its last complete checkpoint"))
    seed: int = Field(0, description="model init (LoRA), data order, dropout, IB noise, eval split")
    bf16: bool = Field(False, description="load the weights in bfloat16 and train in bf16 mixed precision (GPU)")
    gradient_checkpointing: bool = Field(False, description=(
        "recompute activations in backward: less memory, ~30% slower"))
    logging_steps: int = Field(10, ge=1, description="log loss (and ce, kl, ce_bottleneck with IB) every N steps")
    report_to: str | list[str] = Field("none", description=(
        "TRL's trackers: \"none\", \"tensorboard\", \"wandb\", ... or a list"))
    ib: IBSpec = Field(default_factory=IBSpec, description="IB-FT regulariser (off by default)")
    sft: dict[str, Any] = Field(default_factory=dict, description=(
        "any other trl.SFTConfig field, passed through as is"))

    @model_validator(mode="after")
    def _one_warmup(self) -> "TrainConfig":
        if self.warmup_steps is not None:
            if "warmup_ratio" in self.model_fields_set:
                raise ValueError("set either `warmup_steps` or `warmup_ratio`, not both")
            if self.warmup_steps >= 1 and self.warmup_steps != int(self.warmup_steps):
                raise ValueError(f"warmup_steps: {self.warmup_steps} is a step count (>= 1), so it must be whole; "
                                 "below 1 it is a fraction of the steps")
        return self

    @model_validator(mode="after")
    def _one_method(self) -> "TrainConfig":
        if self.full and self.lora is not None and "lora" in self.model_fields_set:
            raise ValueError("set either `full: true` or a `lora:` block, not both")
        if self.full:
            self.lora = None
        elif self.lora is None:
            raise ValueError("`lora: null` needs `full: true` (full fine-tuning)")
        return self


# SFTConfig fields a first-class key sets (sft.<field> -> the key to set instead) ...
FIRST_CLASS = {name: name for name in (
    "output_dir", "learning_rate", "lr_scheduler_type", "warmup_ratio", "weight_decay", "num_train_epochs",
    "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps", "max_length", "packing",
    "save_steps", "seed", "bf16", "gradient_checkpointing", "logging_steps", "report_to")}
# ... and the ones synthkit derives from a key, or needs as they are.
FIRST_CLASS.update({
    "warmup_steps": "warmup_steps", "model_init_kwargs": "dtype", "save_strategy": "save_steps", "eval_strategy": "eval_fraction",
    "eval_steps": "save_steps", "do_eval": "eval_fraction", "activation_checkpointing": "gradient_checkpointing",
    "gradient_checkpointing_kwargs": "gradient_checkpointing", "activation_checkpointing_kwargs":
    "gradient_checkpointing", "save_only_model": "resume", "resume_from_checkpoint": "resume",
    "overwrite_output_dir": "resume"})


def check_sft(sft: dict[str, Any], where: str = "") -> None:
    """Raise ConfigError unless every ``sft`` key is an SFTConfig field that no
    first-class key sets. Imports trl only when ``sft`` is not empty."""
    if not sft:
        return
    import dataclasses

    import trl

    fields = {f.name for f in dataclasses.fields(trl.SFTConfig) if f.init}
    prefix = f"{where}." if where else ""
    for key in sft:
        path = f"{prefix}sft.{key}"
        if key in FIRST_CLASS:
            own = FIRST_CLASS[key]
            how = "is a key of the trainer config" if own == key else f"is set by synthkit from `{own}`"
            raise ConfigError(f"{path}: `{key}` {how}; set `{prefix}{own}` instead of putting `{key}` under sft:")
        if key not in fields:
            close = difflib.get_close_matches(key, sorted(fields), n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ConfigError(f"{path}: not an SFTConfig field (trl {trl.__version__}); sft: takes "
                              f"trl.SFTConfig's fields only.{hint}")


def parse_train_config(raw: dict[str, Any], overrides: list[str] | tuple[str, ...] = (),
                       where: str = "") -> TrainConfig:
    """Validate a raw mapping (after ``key.path=value`` overrides) into a TrainConfig.
    ``where`` prefixes error paths (e.g. ``iterations.train`` inside a pipeline)."""
    from synthkit.core.config import apply_override, format_validation_error

    prefix = f"{where}." if where else ""
    raw = copy.deepcopy(raw)  # overrides edit nested mappings in place; the caller's stay as they were
    raw = _trl(raw, prefix)  # TRL's names first, so an override by either name replaces the file's value
    for o in overrides:
        apply_override(raw, o)
    raw = _trl(raw, prefix)  # an override may use TRL's names too
    try:
        cfg = TrainConfig.model_validate(raw, context={"where": where})
    except ValidationError as e:
        lines = format_validation_error(e, where, TrainConfig).splitlines()
        raise ConfigError("\n".join(line.removeprefix(": ") for line in lines)) from None
    check_sft(cfg.sft, where)
    return cfg


def _trl(raw: Any, prefix: str) -> Any:
    from synthkit.train.trl_keys import from_trl

    sections = {"lora": set(LoraSpec.model_fields), "ib": set(IBSpec.model_fields)}
    return from_trl(raw, prefix, set(TrainConfig.model_fields), sections, FIRST_CLASS)


def load_train_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    from synthkit.core.config import load_raw

    p = Path(path)
    raw = load_raw(p, what="train config", keys="model, dataset, output_dir")
    env = raw.pop("env", None) if isinstance(raw, dict) else None
    if env is not None:  # as `trl sft --config` does: environment variables for this process
        if not isinstance(env, dict):
            raise ConfigError(f"{p}: env: expected a mapping of environment variables")
        os.environ.update({str(k): str(v) for k, v in env.items()})
    try:
        return parse_train_config(raw, overrides)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None

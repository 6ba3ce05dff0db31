"""The trainer's configuration: one YAML file, every default on one screen.

``synthkit train CONFIG.yaml [-o key=value ...]`` reads a mapping whose keys are
the fields below (unknown keys fail with the allowed ones listed). Relative
paths (``dataset``, ``output_dir``, ``model``) resolve against the current
directory, like any command-line path. ``-o lora.r=32 -o ib.enabled=true``
overrides any key; values are parsed as YAML.

Exactly one of LoRA (the default) or full fine-tuning: set ``full: true`` and
leave ``lora`` out (or ``lora: null``) for full fine-tuning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synthkit.errors import ConfigError


class LoraSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = Field(16, ge=1)               # adapter rank
    alpha: int = Field(32, ge=1)           # scaling numerator: the update is scaled by alpha / r
    dropout: float = Field(0.05, ge=0, lt=1)  # dropout on the adapter input
    target_modules: list[str] | str = "all-linear"  # module names, or "all-linear" (every linear but the LM head)


class IBSpec(BaseModel):
    """IB-FT: a variational information bottleneck on one decoder layer's output.
    Loss = CE + beta * (KL + gamma * CE_bottleneck); see synthkit/train/ib.py."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False                  # add the bottleneck terms to the loss
    dim: int = Field(256, ge=1)            # size of the Gaussian latent
    beta: float = Field(0.2, ge=0)         # weight of (KL + gamma * CE_bottleneck)
    gamma: float = Field(0.01, ge=0)       # weight of CE_bottleneck inside the beta term
    layer: int = -1                        # decoder layer index (Python-style; -1 = the last, before the final norm)


class TrainConfig(BaseModel):
    """Everything ``synthkit train`` needs. YAML keys equal field names."""

    model_config = ConfigDict(extra="forbid")

    model: str = "embedded"                # local HF dir, hub id, or "embedded" (SmolLM2-135M-Instruct)
    dataset: str                           # synthkit dataset: a save_to_disk dir, or a hub id; reads `messages` only
    dataset_split: str = "train"           # split used when the dataset has several (or comes from the hub)
    output_dir: str = "out/train"          # checkpoints go to <output_dir>/checkpoint-<step>/
    lora: LoraSpec | None = Field(default_factory=LoraSpec)  # LoRA adapter; null for full fine-tuning
    full: bool = False                     # full fine-tuning (all weights); needs `lora` unset or null
    lr: float = Field(2e-4, gt=0)          # peak learning rate (AdamW)
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"  # decay after warmup
    warmup_ratio: float = Field(0.03, ge=0, lt=1)  # fraction of the steps spent warming up linearly
    weight_decay: float = Field(0.0, ge=0)  # AdamW weight decay
    epochs: float = Field(1.0, gt=0)       # passes over the data; ignored when max_steps > 0
    max_steps: int = -1                    # optimizer steps; > 0 overrides epochs
    batch_size: int = Field(8, ge=1)       # sequences (or packed blocks) per device per micro-batch
    grad_accum: int = Field(1, ge=1)       # micro-batches per optimizer step
    max_seq_len: int = Field(1024, ge=8)   # tokens per sequence: longer ones are truncated (or the packed block size)
    packing: bool = False                  # pack sequences into max_seq_len blocks (best-fit, padding-free)
    save_steps: int = Field(0, ge=0)       # save every N optimizer steps (and at the end); 0 = at each epoch's end
    seed: int = 0                          # model init (LoRA), data order, dropout, IB noise
    bf16: bool = False                     # load the weights in bfloat16 and train in bf16 mixed precision (GPU)
    gradient_checkpointing: bool = False   # recompute activations in backward: less memory, ~30% slower
    logging_steps: int = Field(10, ge=1)   # log loss (and ce, kl, ce_bottleneck with IB) every N steps
    ib: IBSpec = Field(default_factory=IBSpec)  # IB-FT regulariser (off by default)

    @model_validator(mode="after")
    def _one_method(self) -> "TrainConfig":
        if self.full and self.lora is not None and "lora" in self.model_fields_set:
            raise ValueError("set either `full: true` or a `lora:` block, not both")
        if self.full:
            self.lora = None
        elif self.lora is None:
            raise ValueError("`lora: null` needs `full: true` (full fine-tuning)")
        return self


def parse_train_config(raw: dict[str, Any], overrides: list[str] | tuple[str, ...] = (),
                       where: str = "") -> TrainConfig:
    """Validate a raw mapping (after ``key.path=value`` overrides) into a TrainConfig.
    ``where`` prefixes error paths (e.g. ``iterations.train`` inside a pipeline)."""
    from synthkit.core.config import apply_override, format_validation_error

    raw = dict(raw)
    for o in overrides:
        apply_override(raw, o)
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, where, TrainConfig)) from None


def load_train_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    from synthkit.core.config import load_raw

    p = Path(path)
    raw = load_raw(p, what="train config", keys="model, dataset, output_dir")
    try:
        return parse_train_config(raw, overrides)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None

"""The warm-up: a short LoRA training on a random fraction of the pool (LESS: 5%, 4 epochs).

``warmup(conversations, ids, spec, model, seed, root)`` draws ``ceil(fraction * n)``
rows (``min_rows`` to all) with a seeded RNG and trains them with the bundled trainer,
one checkpoint per epoch (optimizer state and mean learning rate kept); it returns
the checkpoint folders, oldest first.

``device_defaults`` (a field set in the spec wins): on a GPU LESS's (LoRA r 128, alpha
512, effective batch 32, 2,048 tokens, bf16); on a CPU r 8, alpha 32, 8 rows a step,
1,024 tokens.

Everything lives in ``<root>/<key>/`` (key: the drawn rows, spec and model), so a rerun
reuses finished checkpoints and a killed training resumes. ``checkpoints:`` in the spec
skips training.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
from pathlib import Path
from typing import Sequence

from pydantic import BaseModel, ConfigDict, Field

from synthkit.errors import ConfigError
from synthkit.train.config import LoraSpec

log = logging.getLogger(__name__)

DONE = "_WARMUP_DONE"


LESS_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj"]
GPU_DEFAULTS = {"lora": {"r": 128, "lora_alpha": 512}, "per_device_train_batch_size": 1, "effective_batch": 32,
                "max_length": 2048}   # LESS's warm-up (less/scripts/train/base_training_args.sh)
CPU_DEFAULTS = {"lora": {"r": 8, "lora_alpha": 32}, "per_device_train_batch_size": 8, "effective_batch": None,
                "max_length": 1024}   # no accumulation


class WarmupSpec(BaseModel):
    """How to get the checkpoints: train them (the default), or name existing ones."""

    model_config = ConfigDict(extra="forbid")

    checkpoints: list[str] | None = Field(None, description=(
        "existing LoRA checkpoint folders or training output folders: no training"))
    model: str | None = Field(None, description="base model; default: the pipeline's llm.model")
    fraction: float = Field(0.05, gt=0, le=1, description="share of the pool trained on, drawn at random (LESS: 5%)")
    min_rows: int = Field(1, ge=1, description="train on at least this many rows (all if the pool is smaller)")
    num_train_epochs: int = Field(4, ge=1, description="one checkpoint per epoch (LESS: 4)")
    learning_rate: float = Field(2e-5, gt=0, description="peak, linear decay (LESS: 2e-5)")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description=(
        "LR warm-up share; LESS's 0.03 would give a short run's first checkpoint lr 0"))
    per_device_train_batch_size: int | None = Field(None, ge=1, description=(
        "warm-up rows per device and step; None: 1 on a GPU (LESS), 8 on a CPU"))
    gradient_accumulation_steps: int | None = Field(None, ge=1, description=(
        "steps accumulated per optimizer step; None: 32 // the per-device batch on a GPU (LESS: 32), 1 on a CPU"))
    max_length: int | None = Field(None, ge=8, description=(
        "tokens per row (the features use the stage's max_length); None: 2048 on a GPU (LESS), 1024 on a CPU"))
    lora: LoraSpec | None = Field(None, description=(
        "None: LESS's r 128, alpha 512, dropout 0.1, q/k/v/o on a GPU; r 8, alpha 32 on a CPU"))
    bf16: bool | None = Field(None, description="bf16 mixed precision; None: on a GPU (LESS), off on a CPU")


def device_defaults(spec: WarmupSpec, gpu: bool) -> WarmupSpec:
    """``spec`` with every unset (None) field filled with the GPU (LESS) or CPU default."""
    d = GPU_DEFAULTS if gpu else CPU_DEFAULTS
    per_device = spec.per_device_train_batch_size or d["per_device_train_batch_size"]
    accumulation = spec.gradient_accumulation_steps or max(1, (d["effective_batch"] or per_device) // per_device)
    lora = spec.lora or LoraSpec(**d["lora"], lora_dropout=0.1, target_modules=list(LESS_MODULES))
    return spec.model_copy(update={"per_device_train_batch_size": per_device, "gradient_accumulation_steps": accumulation,
                                   "max_length": spec.max_length or d["max_length"], "lora": lora,
                                   "bf16": gpu if spec.bf16 is None else spec.bf16})


def draw(n: int, fraction: float, min_rows: int, seed: int) -> list[int]:
    """Positions of the warm-up rows: a seeded random ``ceil(fraction * n)``, at least ``min_rows``, sorted."""
    k = min(n, max(min_rows, math.ceil(fraction * n)))
    return sorted(random.Random(seed).sample(range(n), k))


def warmup(conversations: Sequence[list[dict]], ids: Sequence[str], spec: WarmupSpec, model: str,
           seed: int, root: Path) -> list[Path]:
    """Train the warm-up (or reuse a finished one) and return its checkpoint folders."""
    import datasets

    from synthkit.train.config import TrainConfig
    from synthkit.train.trainer import train

    if not conversations:
        raise ConfigError("warmup: the pool is empty; there is nothing to train on")
    import torch

    spec = device_defaults(spec, gpu=torch.cuda.is_available())
    picked = draw(len(conversations), spec.fraction, spec.min_rows, seed)
    rows = [{"id": str(ids[i]), "messages": conversations[i]} for i in picked]
    key = hashlib.sha256(json.dumps({"rows": rows, "spec": spec.model_dump(exclude={"checkpoints"}),
                                     "model": model, "seed": seed}, sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(root) / key
    out = folder / "train"
    done = folder / DONE
    if done.is_file():
        found = [Path(p) for p in json.loads(done.read_text())["checkpoints"]]
        if all(p.is_dir() for p in found):
            log.info("warm-up %s: finished earlier, reusing %d checkpoints", key, len(found))
            return found
    data = folder / "data"
    if not (data / "dataset_info.json").is_file():
        datasets.Dataset.from_list(rows).save_to_disk(str(data))
    cfg = TrainConfig(model=model, dataset=str(data), output_dir=str(out), lora=spec.lora,
                      learning_rate=spec.learning_rate, warmup_ratio=spec.warmup_ratio, num_train_epochs=spec.num_train_epochs,
                      per_device_train_batch_size=spec.per_device_train_batch_size,
                      gradient_accumulation_steps=spec.gradient_accumulation_steps, max_length=spec.max_length,
                      save_steps=0, seed=seed, logging_steps=1, bf16=spec.bf16)
    log.info("warm-up %s: training on %d of %d rows for %d epochs", key, len(rows), len(conversations),
             spec.num_train_epochs)
    result = train(cfg, data_fingerprint=key)
    paths = [c.path for c in result.checkpoints]
    if not paths:
        raise ConfigError(f"warm-up {out}: the trainer wrote no checkpoint")
    done.write_text(json.dumps({"checkpoints": [str(p) for p in paths], "rows": len(rows)}))
    return paths

"""Checkpoints the trainer writes, and how other parts of synthkit use them.

Each checkpoint is ``<output_dir>/checkpoint-<step>/`` as transformers writes it
(model or LoRA adapter, tokenizer, ``optimizer.pt``, ``scheduler.pt``,
``trainer_state.json``; an IB-FT bottleneck in ``ib_bottleneck.safetensors``) plus
``synthkit_checkpoint.json``, written last and atomically (a folder without it is
never resumed from): ``step``, ``epoch``, ``lr`` (the mean learning rate since the
previous checkpoint: the weight LESS gives it), ``last_lr``, ``n_steps``,
``eval_loss`` (with ``eval_fraction``), ``fingerprint`` (the run's config and data)
and ``trainable`` (trainable parameters in the optimizer state's order, which
Adam-preconditioned influence needs). ``merge_or_load(path)`` (``llm.lora``) turns a
checkpoint into a folder ``LLMConfig(model=...)`` loads. Details: docs/trainer.md.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from synthkit.errors import DataError
from synthkit.llm.lora import merge_or_load  # noqa: F401  (re-exported: the trainer's users look here)

log = logging.getLogger(__name__)

META = "synthkit_checkpoint.json"
_CKPT = re.compile(r"^checkpoint-(\d+)$")


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path                       # the checkpoint folder
    step: int                        # optimizer steps done
    lr: float                        # mean learning rate since the previous checkpoint (LESS weight)
    epoch: float = 0.0               # fractional epochs done
    last_lr: float = 0.0             # learning rate of the last step
    eval_loss: float | None = None   # held-out loss at this step (eval_fraction > 0), else None


def write_meta(ckpt_dir: Path, step: int, epoch: float, lrs: list[float], trainable: list[str],
               fingerprint: str = "", eval_loss: float | None = None) -> None:
    """Write ``synthkit_checkpoint.json`` atomically: the proof the checkpoint is complete."""
    meta = {"step": step, "epoch": epoch, "lr": sum(lrs) / len(lrs) if lrs else 0.0,
            "last_lr": lrs[-1] if lrs else 0.0, "n_steps": len(lrs), "fingerprint": fingerprint,
            "trainable": trainable}
    if eval_loss is not None:
        meta["eval_loss"] = eval_loss
    tmp = Path(ckpt_dir) / f".{META}.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, Path(ckpt_dir) / META)


def read_fingerprint(ckpt_dir: Path) -> str | None:
    """The run fingerprint a complete synthkit checkpoint was written under; None when incomplete."""
    try:
        return str(json.loads((Path(ckpt_dir) / META).read_text()).get("fingerprint", ""))
    except (OSError, ValueError):
        return None


def read_checkpoint(path: str | Path) -> CheckpointInfo:
    p = Path(path)
    try:
        meta = json.loads((p / META).read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{p}: no readable {META}; not a checkpoint written by `synthkit train` ({e})") from None
    eval_loss = meta.get("eval_loss")
    return CheckpointInfo(path=p, step=int(meta["step"]), lr=float(meta["lr"]),
                          epoch=float(meta.get("epoch", 0.0)), last_lr=float(meta.get("last_lr", 0.0)),
                          eval_loss=None if eval_loss is None else float(eval_loss))


def checkpoint_dirs(output_dir: str | Path) -> list[Path]:
    """``checkpoint-<n>`` folders in ``output_dir`` by step (any writer, complete or not; none if it is missing)."""
    root = Path(output_dir)
    found = [d for d in root.iterdir() if d.is_dir() and _CKPT.match(d.name)] if root.is_dir() else []
    return sorted(found, key=step_of)


def step_of(ckpt_dir: Path) -> int:
    """The step in a ``checkpoint-<step>`` folder's name."""
    return int(_CKPT.match(Path(ckpt_dir).name).group(1))


def list_checkpoints(output_dir: str | Path) -> list[CheckpointInfo]:
    """The synthkit checkpoints under ``output_dir``, by step (oldest first)."""
    if not Path(output_dir).is_dir():
        raise DataError(f"{output_dir}: no such training output folder")
    found = [read_checkpoint(d) for d in checkpoint_dirs(output_dir) if (d / META).is_file()]
    return sorted(found, key=lambda c: c.step)

"""A LoRA checkpoint as influence needs it.

- ``resolve_checkpoints(paths)``: a checkpoint folder, or a training output folder
  standing for its ``checkpoint-<step>`` folders, oldest first.
- ``load_lora(path)``: the base model with the adapter **unmerged** (the gradients are
  taken over the adapter's parameters), eval mode, SDPA attention, trainable
  parameters in the optimizer's order (``synthkit_checkpoint.json``'s ``trainable``).
- ``load_adam(path, lm)``: ``exp_avg`` / ``exp_avg_sq`` flattened in that order, with
  ``betas`` and ``eps``; mismatched shapes are a DataError.
- ``checkpoint_key(path)``: a content hash of adapter and optimizer state (the
  feature cache's name for it).
- ``checkpoint_weight(path)``: the mean learning rate since the previous checkpoint.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from synthkit.errors import DataError

log = logging.getLogger(__name__)

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")
OPTIMIZER = "optimizer.pt"


@dataclass
class LoraModel:
    model: Any                       # peft.PeftModel, eval mode, adapter unmerged
    tokenizer: Any
    names: list[str]                 # trainable parameters, optimizer order
    shapes: list[tuple[int, ...]]
    path: Path
    keeps_logits: bool = False       # the model's forward takes ``logits_to_keep`` (LM head on chosen positions)

    @property
    def grad_dim(self) -> int:
        n = 0
        for s in self.shapes:
            k = 1
            for d in s:
                k *= d
            n += k
        return n

    def params(self) -> dict[str, Any]:
        """The trainable parameters, detached, by name (what ``torch.func`` differentiates)."""
        named = dict(self.model.named_parameters())
        return {n: named[n].detach() for n in self.names}


@dataclass
class AdamState:
    exp_avg: Any                     # float32 tensor [P], parameters flattened in LoraModel.names order
    exp_avg_sq: Any                  # float32 tensor [P]
    beta1: float
    beta2: float
    eps: float


def resolve_checkpoints(paths: Sequence[str | Path]) -> list[Path]:
    """Checkpoint folders for ``paths`` (a checkpoint, or a training output folder = all its checkpoints)."""
    from synthkit.train.checkpoints import checkpoint_dirs

    out: list[Path] = []
    for p in map(Path, paths):
        if (p / "adapter_config.json").is_file():
            out.append(p)
        elif p.is_dir() and (found := [d for d in checkpoint_dirs(p) if (d / "adapter_config.json").is_file()]):
            out.extend(found)
        elif (p / "config.json").is_file():
            raise DataError(f"{p}: a full model, not a LoRA checkpoint; influence takes gradients over LoRA "
                            "parameters, so warm up with LoRA (the trainer's default)")
        else:
            raise DataError(f"{p}: neither a LoRA checkpoint (adapter_config.json) nor a training output "
                            "folder holding checkpoint-<step>/ folders")
    if not out:
        raise DataError("no checkpoints given")
    return out


def checkpoint_weight(path: Path) -> float:
    """LESS's weight of a checkpoint: its mean learning rate (synthkit_checkpoint.json ``lr``)."""
    from synthkit.train.checkpoints import read_checkpoint

    return read_checkpoint(path).lr


def checkpoint_key(path: Path) -> str:
    """A content hash of the adapter (config and weights) and ``optimizer.pt``."""
    h = hashlib.sha256()
    for name in (*ADAPTER_FILES, OPTIMIZER):
        f = Path(path) / name
        if f.is_file():
            h.update(name.encode() + b"\0")
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    h.update(block)
    return h.hexdigest()[:24]


def _trainable_order(path: Path) -> list[str] | None:
    from synthkit.train.checkpoints import META

    try:
        return list(json.loads((path / META).read_text())["trainable"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_lora(path: str | Path, device: str = "cpu") -> LoraModel:
    """The checkpoint's base model with its LoRA adapter, unmerged, eval mode, on ``device``."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from synthkit.llm.embedded import resolve_model

    path = Path(path)
    try:
        cfg = json.loads((path / "adapter_config.json").read_text())
        base_name = cfg["base_model_name_or_path"]
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{path}: not a LoRA checkpoint with a base model named in adapter_config.json ({e})") from None
    base_path = resolve_model(base_name)
    try:
        base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32, attn_implementation="sdpa")
        model = PeftModel.from_pretrained(base, str(path), is_trainable=True)
        tok_from = path if (path / "tokenizer_config.json").is_file() else base_path
        tokenizer = AutoTokenizer.from_pretrained(str(tok_from))
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot load the LoRA model on {base_name} ({e})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device).eval()
    named = {n: p for n, p in model.named_parameters() if p.requires_grad}
    order = _trainable_order(path)
    if order is None:
        log.warning("%s: no trainable list in synthkit_checkpoint.json; assuming the model's parameter order "
                    "is the optimizer's", path)
        order = list(named)
    if set(order) != set(named):
        missing, extra = sorted(set(order) - set(named))[:3], sorted(set(named) - set(order))[:3]
        raise DataError(f"{path}: the checkpoint's trainable parameters do not match the loaded adapter "
                        f"(recorded only: {missing}; loaded only: {extra})")
    keeps = "logits_to_keep" in inspect.signature(model.get_base_model().forward).parameters
    return LoraModel(model, tokenizer, order, [tuple(named[n].shape) for n in order], path, keeps)


def load_adam(path: str | Path, lm: LoraModel) -> AdamState:
    """Adam's moments from ``<path>/optimizer.pt``, flattened in ``lm.names`` order."""
    import torch

    f = Path(path) / OPTIMIZER
    if not f.is_file():
        raise DataError(f"{path}: no {OPTIMIZER}; training-row features need the checkpoint's Adam state "
                        "(checkpoints written by `synthkit train` have it)")
    sd = torch.load(f, map_location="cpu", weights_only=True)
    state, groups = sd.get("state", {}), sd.get("param_groups", [])
    if not groups or "betas" not in groups[0]:
        raise DataError(f"{f}: not an Adam optimizer state (no betas)")
    m, v = [], []
    for i, (name, shape) in enumerate(zip(lm.names, lm.shapes)):
        s = state.get(i)
        if s is None or "exp_avg" not in s or tuple(s["exp_avg"].shape) != shape:
            got = None if s is None or "exp_avg" not in s else tuple(s["exp_avg"].shape)
            raise DataError(f"{f}: state {i} ({name}) has shape {got}, the parameter {shape}; the optimizer "
                            "state does not belong to this adapter")
        m.append(s["exp_avg"].float().reshape(-1))
        v.append(s["exp_avg_sq"].float().reshape(-1))
    b1, b2 = groups[0]["betas"]
    return AdamState(torch.cat(m), torch.cat(v), float(b1), float(b2), float(groups[0]["eps"]))

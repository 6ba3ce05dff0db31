"""Model resolution for LoRA checkpoints: an adapter folder becomes a loadable model.

``merge_or_load(path)`` turns a checkpoint folder into one that
``AutoModelForCausalLM.from_pretrained`` (and so every backend) loads: a full
fine-tuning checkpoint as is, a LoRA adapter (``adapter_config.json``) merged
into its base model once, into ``<checkpoint>/merged/`` and reused afterwards.
The merged folder is written beside and renamed into place, so a reader never
sees a half-written model and two racing processes both end with a valid one.

It lives in ``llm/`` because every backend resolves ``model:`` through it
(``synthkit.llm.embedded.resolve_model``); the trainer re-exports it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from synthkit.errors import DataError

log = logging.getLogger(__name__)

MERGED = "merged"


def merge_or_load(checkpoint_path: str | Path) -> Path:
    """A Hugging Face model folder for ``checkpoint_path`` that the
    transformers backend loads: the checkpoint itself (full fine-tuning), or
    its LoRA adapter merged into the base model in ``<checkpoint>/merged``."""
    ckpt = Path(checkpoint_path)
    if (ckpt / "adapter_config.json").is_file():
        merged = ckpt / MERGED
        if not (merged / "config.json").is_file():
            _merge(ckpt, merged)
        return merged
    if (ckpt / "config.json").is_file():
        return ckpt
    raise DataError(f"{ckpt}: neither a LoRA adapter (adapter_config.json) nor a model (config.json)")


def _merge(ckpt: Path, merged: Path) -> None:
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    log.info("merging the LoRA adapter of %s into its base model", ckpt)
    model = AutoPeftModelForCausalLM.from_pretrained(str(ckpt), dtype="auto").merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(str(ckpt))
    # Written beside and renamed, so a reader never sees a half-written model.
    tmp = Path(tempfile.mkdtemp(prefix=".merged-", dir=ckpt))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.rename(tmp, merged)
        except OSError:
            if not (merged / "config.json").is_file():  # else another process merged it first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

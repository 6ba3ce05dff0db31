"""Model resolution for LoRA checkpoints: an adapter folder becomes a loadable model.

``merge_or_load(path)`` turns a checkpoint folder into one that
``AutoModelForCausalLM.from_pretrained`` (and so every backend) loads: a full
fine-tuning checkpoint as is, a LoRA adapter (``adapter_config.json``) merged
into its base model once, into ``<checkpoint>/merged/`` and reused afterwards.
The merged folder is written beside and renamed into place, so a reader never
sees a half-written model and two racing processes both end with a valid one.

The merged folder carries a stamp (``synthkit_adapter.json``): a hash of the
adapter's own files (the bytes of its config and weights) and of its base
model's top-level files (names, sizes, modification times) when the base is a
local folder. A checkpoint retrained in place, or a base model rewritten,
no longer matches its stamp and is merged again instead of serving the old
weights. A Hub base model is known by its id only.

It lives in ``llm/`` because every backend resolves ``model:`` through it
(``synthkit.llm.embedded.resolve_model``); the trainer re-exports it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from synthkit.errors import DataError

log = logging.getLogger(__name__)

MERGED = "merged"
STAMP = "synthkit_adapter.json"


def merge_or_load(checkpoint_path: str | Path) -> Path:
    """A Hugging Face model folder for ``checkpoint_path`` that the
    transformers backend loads: the checkpoint itself (full fine-tuning), or
    its LoRA adapter merged into the base model in ``<checkpoint>/merged``."""
    ckpt = Path(checkpoint_path)
    if (ckpt / "adapter_config.json").is_file():
        merged, stamp = ckpt / MERGED, adapter_stamp(ckpt)
        if not (merged / "config.json").is_file() or _read_stamp(merged) != stamp:
            _merge(ckpt, merged, stamp)
        return merged
    if (ckpt / "config.json").is_file():
        return ckpt
    raise DataError(f"{ckpt}: neither a LoRA adapter (adapter_config.json) nor a model (config.json)")


def adapter_stamp(ckpt: Path) -> str:
    """What decides the merged model: the adapter's files (bytes; they are small)
    and, for a local base model folder, its top-level files' names, sizes and times."""
    h = hashlib.sha256()
    for path in sorted(p for p in ckpt.iterdir() if p.is_file() and p.name.startswith("adapter_")):
        h.update(path.name.encode() + b"\0")
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    try:
        base = json.loads((ckpt / "adapter_config.json").read_text()).get("base_model_name_or_path") or ""
    except (ValueError, OSError) as e:
        raise DataError(f"{ckpt / 'adapter_config.json'}: not readable JSON ({e})") from None
    h.update(f"base\0{base}\n".encode())
    folder = Path(base).expanduser()
    if base and folder.is_dir():
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            st = path.stat()
            h.update(f"{path.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def _read_stamp(merged: Path) -> str | None:
    try:
        return json.loads((merged / STAMP).read_text()).get("adapter")
    except (OSError, ValueError, AttributeError):
        return None  # merged before stamps existed, or damaged: merge again


def _merge(ckpt: Path, merged: Path, stamp: str) -> None:
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
        (tmp / STAMP).write_text(json.dumps({"adapter": stamp}))
        if merged.exists():  # stale: moved aside first, so the rename below cannot fail on it
            old = Path(tempfile.mkdtemp(prefix=".stale-", dir=ckpt))
            try:
                os.rename(merged, old / MERGED)
            except FileNotFoundError:
                pass  # another process moved it first
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.rename(tmp, merged)
        except OSError:
            if _read_stamp(merged) != stamp:  # else another process merged the same adapter first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

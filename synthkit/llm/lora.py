"""Model resolution for LoRA checkpoints: an adapter folder becomes a loadable model.

``merge_or_load(path)`` returns a folder ``AutoModelForCausalLM.from_pretrained``
loads: a full fine-tuning checkpoint as is, a LoRA adapter merged into its base model
once, into ``<checkpoint>/merged/`` (written beside and renamed into place; a flock on
``<checkpoint>/.merge.lock`` lets one process merge while others wait).

The merged folder's stamp (``synthkit_adapter.json``) hashes the adapter's files and a
local base model's top-level files (names, sizes, last MiB); a mismatch merges again.
A Hub base model is known by its id only.

Every backend resolves ``model:`` through it (``synthkit.llm.embedded.resolve_model``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

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
        if _fresh(merged, stamp):
            return merged
        with _merge_lock(ckpt):  # one merger per checkpoint; the others wait, then find it done
            if not _fresh(merged, stamp):
                _merge(ckpt, merged, stamp)
        return merged
    if (ckpt / "config.json").is_file():
        return ckpt
    raise DataError(f"{ckpt}: neither a LoRA adapter (adapter_config.json) nor a model (config.json)")


def adapter_stamp(ckpt: Path) -> str:
    """What decides the merged model: the bytes of the adapter's files, and for
    a local base model folder its top-level files' names, sizes and last MiB
    (the same on every node that holds a copy, unlike modification times; a
    retrained base of the same size differs there)."""
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
            size = path.stat().st_size
            h.update(f"{path.name}\0{size}\n".encode())
            with path.open("rb") as f:
                f.seek(max(0, size - (1 << 20)))
                h.update(f.read())
    return h.hexdigest()[:20]


def _fresh(merged: Path, stamp: str) -> bool:
    if not (merged / "config.json").is_file():
        return False
    try:
        return json.loads((merged / STAMP).read_text()).get("adapter") == stamp
    except (OSError, ValueError, AttributeError):
        return False  # merged before stamps existed, or damaged: merge again


@contextlib.contextmanager
def _merge_lock(ckpt: Path) -> Iterator[None]:
    """An flock in the temp folder, named by the checkpoint's path: not in the checkpoint,
    whose file list is its identity for the LLM cache (``embedded.folder_fingerprint``)."""
    import fcntl

    key = hashlib.sha256(str(ckpt.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"synthkit-merge-{key}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _merge(ckpt: Path, merged: Path, stamp: str) -> None:
    """Merge into a temporary folder beside ``merged``, then swap it in (called under
    ``_merge_lock``; a process on another node sharing the folder is checked for once more
    just before the swap)."""
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    log.info("merging the LoRA adapter of %s into its base model", ckpt)
    model = AutoPeftModelForCausalLM.from_pretrained(str(ckpt), dtype="auto").merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(str(ckpt))
    tmp, old = Path(tempfile.mkdtemp(prefix=".merged-", dir=ckpt)), None
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / STAMP).write_text(json.dumps({"adapter": stamp}))
        if _fresh(merged, stamp):
            return  # merged meanwhile by another node: keep theirs
        old = Path(tempfile.mkdtemp(prefix=".merged-stale-", dir=ckpt))
        if merged.exists():  # a stale merge (its adapter changed): moved aside, removed once replaced
            os.rename(merged, old / MERGED)
        os.rename(tmp, merged)
    except OSError as e:
        raise DataError(f"{merged}: cannot write the merged model ({e})") from None
    finally:
        for folder in (tmp, old):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

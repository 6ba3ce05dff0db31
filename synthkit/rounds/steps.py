"""One training step of the loop, shared by the bootstrap, the rounds and the final step.

A step is skipped when its ``_SUCCESS`` holds the same fingerprint (see
``synthkit.rounds.loop``); a training killed midway resumes from its last
complete checkpoint under the same fingerprint.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthkit.core import rundir
from synthkit.core.pipeline import fingerprint
from synthkit.errors import DataError

if TYPE_CHECKING:
    import datasets

log = logging.getLogger(__name__)


@dataclass
class LoopState:
    """What one step hands the next: the trained checkpoints and the fingerprint upstream of them."""

    checkpoints: list[str] = field(default_factory=list)
    upstream: str = ""
    base: str = ""                       # the model the next training starts from


def done(marker: Path, fp: str) -> dict[str, Any] | None:
    """The ``_SUCCESS`` record when it was written under ``fp``; None when the step must run."""
    if not marker.exists():
        return None
    record = rundir.read_json(marker)
    if record.get("fingerprint") == fp:
        return record
    log.info("%s: its inputs or config changed, redoing it", marker.parent)
    return None


def write_data(out: Path, ds: "datasets.Dataset", fp: str) -> None:
    """``out/data`` (save_to_disk) and its ``_SUCCESS`` under ``fp``."""
    shutil.rmtree(out, ignore_errors=True)
    ds.save_to_disk(str(out / "data"))
    rundir.write_json(out / "_SUCCESS", {"rows": len(ds), "fingerprint": fp})


def train_step(train_cfg: dict[str, Any], folder: Path, data_dir: Path, state: LoopState, data_fp: str,
               where: str = "iterations.train") -> LoopState:
    """Train ``state.base`` on ``data_dir`` into ``folder/train``; the state after it."""
    fp = fingerprint({"train": train_cfg, "base": state.base, "data": data_fp})
    merged = train_model(train_cfg, folder / "train", data_dir, state.base, fp, where)
    return LoopState(checkpoints=state.checkpoints + merged, upstream=fp, base=merged[-1])


def train_model(train_cfg: dict[str, Any], out: Path, data_dir: Path, base: str, fp: str, where: str) -> list[str]:
    """The merged checkpoint folders of ``base`` trained on ``data_dir/data`` (skipped when done under ``fp``)."""
    from synthkit.llm.lora import merge_or_load
    from synthkit.train.config import parse_train_config
    from synthkit.train.resume import resumable
    from synthkit.train.trainer import train

    marker = out / "_SUCCESS"
    record = done(marker, fp)
    if record:
        return record["checkpoints"]
    raw = {**train_cfg, "model": base, "dataset": str(data_dir / "data"), "output_dir": str(out)}
    cfg = parse_train_config(raw, where=where)
    marker.unlink(missing_ok=True)
    # The fingerprint names the run: a training under it that a kill interrupted resumes from its last
    # complete checkpoint; one under other inputs (train block, base model, data) is deleted and started over.
    result = train(cfg, overwrite=not resumable(cfg, fp), data_fingerprint=fp)
    merged = [str(merge_or_load(c.path)) for c in result.checkpoints]
    if not merged:
        raise DataError(f"{where}: training {base} on {data_dir} saved no checkpoint; set save_steps or max_steps")
    rundir.write_json(marker, {"checkpoints": merged, "base": base, "fingerprint": fp})
    return merged

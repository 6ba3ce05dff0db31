"""What an ``output_dir`` that already holds checkpoints means for ``train``.

A run is named by its fingerprint: the config (all but ``output_dir``, ``resume``,
``report_to``, ``logging_steps``) and the data (datasets' fingerprint, or the caller's
``data_fingerprint``), recorded in each complete checkpoint's ``synthkit_checkpoint.json``.

- ``overwrite``: every ``checkpoint-*`` folder is deleted; the run starts over.
- ``resume: auto`` and this run's checkpoints: training continues from the last complete
  one; incomplete folders (no ``synthkit_checkpoint.json``) are deleted first.
- anything else (another config or data, ``resume: never``): ConfigError naming the
  keys that differ.

Light: no torch, no trl.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import yaml

from synthkit.errors import ConfigError
from synthkit.train.checkpoints import checkpoint_dirs, read_fingerprint
from synthkit.train.config import TrainConfig

log = logging.getLogger(__name__)

CONFIG_FILE = "synthkit_train.yaml"  # the config as trained, at the root of output_dir
_NOT_FINGERPRINTED = {"output_dir", "resume", "report_to", "logging_steps"}  # where and how it is watched, not what


def run_fingerprint(cfg: TrainConfig, data: str) -> str:
    """What a run's checkpoints are written under: its config and its data."""
    what = {k: v for k, v in cfg.model_dump().items() if k not in _NOT_FINGERPRINTED}
    return hashlib.sha256(json.dumps({"config": what, "data": data}, sort_keys=True, default=str).encode()
                          ).hexdigest()[:16]


def resumable(cfg: TrainConfig, data_fingerprint: str) -> bool:
    """Whether ``train(cfg, data_fingerprint=...)`` would resume: ``output_dir``
    holds a complete checkpoint of this config and data, and resume is auto."""
    fingerprint = run_fingerprint(cfg, data_fingerprint)
    return cfg.resume == "auto" and any(read_fingerprint(d) == fingerprint for d in checkpoint_dirs(cfg.output_dir))


def _recorded_diff(out: Path, cfg: TrainConfig) -> list[str] | None:
    """The fingerprinted keys in which ``out``'s recorded config differs from
    ``cfg`` (dotted paths); None when ``out`` has no readable record."""
    try:
        old = yaml.safe_load((out / CONFIG_FILE).read_text())
    except (OSError, yaml.YAMLError):
        return None

    def flat(d: Any, prefix: str = "") -> dict[str, Any]:
        if not isinstance(d, dict):
            return {prefix[:-1]: d}
        return {k: v for key, val in d.items() for k, v in flat(val, f"{prefix}{key}.").items()}

    a, b = flat(old), flat(cfg.model_dump())
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k) and k.split(".")[0] not in _NOT_FINGERPRINTED)


def resume_point(cfg: TrainConfig, fingerprint: str, overwrite: bool = False) -> Path | None:
    """The checkpoint to resume from (None: start fresh), after deleting what
    must go (see the module docstring). Raises ConfigError for another run's."""
    out = Path(cfg.output_dir)
    old = checkpoint_dirs(out)
    if not old:
        return None
    if overwrite:
        log.info("deleting %d checkpoint(s) in %s (overwrite)", len(old), out)
        for d in old:
            shutil.rmtree(d)
        return None
    written = {d: read_fingerprint(d) for d in old}      # None: incomplete
    mine = [d for d in old if written[d] == fingerprint]
    partial = [d for d in old if written[d] is None]
    diff = _recorded_diff(out, cfg)
    # Only incomplete folders: nothing to resume, and they are this config's if the recorded config says so.
    ours = len(mine) + len(partial) == len(old) and bool(mine or diff == [])
    if cfg.resume == "auto" and ours:
        last = mine[-1] if mine else None
        for d in partial:
            log.info("deleting %s: incomplete (a kill interrupted its save)", d)
            shutil.rmtree(d)
        log.info("resuming from %s", last or "the start: no complete checkpoint")
        return last
    if cfg.resume == "never" and ours:
        why = "and resume is `never`"
    elif diff is None:
        why = "of another run: not written by `synthkit train`, or before it recorded its config"
    else:
        why = f"of another run: its config differs in: {', '.join(diff)}" if diff else \
            "of another run: same config, different data"
    raise ConfigError(f"output_dir: {out} already holds {len(old)} checkpoint(s) ({old[0].name}, ...) {why}. "
                      "Choose another output_dir, or pass --overwrite to delete them and start over")


def finished(ckpt: Path) -> bool:
    """Whether ``ckpt`` is the last checkpoint of its run (trainer_state: global_step reached max_steps)."""
    try:
        state = json.loads((ckpt / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return 0 < int(state.get("max_steps") or 0) <= int(state.get("global_step") or 0)

"""``synthkit train CONFIG.yaml [-o key=value ...] [--overwrite]``.

Run again after a kill, the same command resumes from the last complete
checkpoint (``resume: auto``); ``--overwrite`` starts the run over instead.

Light to import (the CLI builds its parser from it); torch, transformers and
trl load only when ``run`` trains. Config errors raise ConfigError, which the
CLI prints as one line and exits 2.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="trainer YAML (see pipelines/train_example.yaml)")
    p.add_argument("-o", "--override", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a config key, e.g. -o lora.r=32 -o ib.enabled=true (repeatable)")
    p.add_argument("--overwrite", action="store_true",
                   help="delete the checkpoint-* folders in output_dir and start over (without it, a run of the "
                        "same config resumes from its last complete checkpoint, and another run's is an error)")


def run(args: argparse.Namespace) -> int:
    from synthkit.train.config import load_train_config
    from synthkit.train.trainer import train

    cfg = load_train_config(args.config, args.override)
    result = train(cfg, overwrite=args.overwrite)
    for c in result.checkpoints:
        held_out = "" if c.eval_loss is None else f"  eval_loss {c.eval_loss:.4g}"
        print(f"{c.path}  step {c.step}  epoch {c.epoch:g}  lr {c.lr:.3g}{held_out}")
    runtime = result.metrics.get("train_runtime", 0.0)
    print(f"done: {len(result.checkpoints)} checkpoint(s) in {result.output_dir} ({runtime:.0f} s)")
    return 0

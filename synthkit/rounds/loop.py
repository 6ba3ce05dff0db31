"""Iterative self-distillation: run the stages, train on their output, repeat.

The rounds sit above the pipeline runner: ``Pipeline.run()`` runs stages,
``run_rounds(pipe)`` runs them once per round and trains in between. YAML::

    iterations:
      rounds: 2
      data: round            # or "accumulate": train on every round's rows so far
      train: {max_steps: 20, lora: {r: 8}}   # a `synthkit train` config, minus model/dataset/output_dir

Each round lives in ``runs/<name>/round_NN/`` with the usual stage folders, then
``train_data/`` (the dataset trained on) and ``train/`` (checkpoints). A round's
``train/_SUCCESS`` lists the loadable (merged) checkpoint folders it produced;
they are appended to the registered checkpoints, which reach every stage of the
next round as ``ctx.checkpoints`` (stages with ``use_last_checkpoints: M``
sample from the last M). Round r trains from the last checkpoint of round r-1
(round 1 from ``llm.model``).

Fingerprints, as for stages: a round's ``train_data`` is fingerprinted by the
fingerprint of the round's last stage, ``data`` and (with ``accumulate``) the
earlier rounds' data; its training by the ``train`` block, the base model and
that data. A step is skipped only when its ``_SUCCESS`` holds the same
fingerprint, and the next round's stages take the training's fingerprint as
their upstream. So a changed ``train`` block, or changed data for a round,
reruns that round's training and everything after it; an unchanged rerun
skips everything.

Resume: a killed round continues at the stage or shard where it stopped, and
a training killed midway resumes from its last complete checkpoint (weights,
optimizer, scheduler, RNG; see ``synthkit.train.resume``) as long as the
round's fingerprint is unchanged; a round whose inputs changed trains anew.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synthkit.core import rundir
from synthkit.core.config import format_validation_error
from synthkit.core.pipeline import Pipeline, fingerprint
from synthkit.errors import ConfigError, DataError

if TYPE_CHECKING:
    import datasets

log = logging.getLogger(__name__)


class IterationsConfig(BaseModel):
    """Self-distillation rounds: run the stages, train on the output, repeat."""

    model_config = ConfigDict(extra="forbid")

    rounds: int = Field(2, ge=1)         # how many times the stages run
    train: dict[str, Any] = Field(default_factory=dict)  # a `synthkit train` config (minus model/dataset/output_dir)
    data: Literal["round", "accumulate"] = "round"  # "round": train on this round's output; "accumulate": on all rounds so far

    @model_validator(mode="before")
    @classmethod
    def _deprecated(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "last_checkpoints" in raw:
            warnings.warn("iterations.last_checkpoints is deprecated and ignored: set `use_last_checkpoints:` "
                          "on the sampling stage instead", FutureWarning, stacklevel=2)
            raw = {k: v for k, v in raw.items() if k != "last_checkpoints"}
        return raw


def parse_iterations(raw: dict[str, Any]) -> IterationsConfig:
    """Validate an ``iterations:`` block, its ``train`` config included, so a bad
    training key fails before the first round samples anything."""
    from synthkit.train.config import parse_train_config

    try:
        cfg = IterationsConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, "iterations", IterationsConfig)) from None
    parse_train_config({**cfg.train, "dataset": "<set per round>"}, where="iterations.train")
    return cfg


def run(pipe: Pipeline) -> "datasets.Dataset":
    """Run ``pipe``: its rounds when it has ``iterations:``, else its stages once."""
    return run_rounds(pipe) if pipe.config.iterations is not None else pipe.run()


def run_rounds(pipe: Pipeline) -> "datasets.Dataset":
    if pipe.config.iterations is None:
        raise ConfigError("iterations: this pipeline has no `iterations:` block; run it with Pipeline.run()")
    it = parse_iterations(pipe.config.iterations)
    checkpoints: list[str] = []
    upstream, data_fps = "", []
    final = None
    for r in range(1, it.rounds + 1):
        round_dir = pipe.run_dir / f"round_{r:02d}"
        log.info("round %d/%d: sampling from %s", r, it.rounds, checkpoints[-1:] or pipe.config.llm.model)
        final = pipe.run_stages(round_dir, checkpoints, upstream=upstream)
        stages_fp = rundir.read_json(round_dir / "report.json")["fingerprint"]
        data_fp = fingerprint({"stages": stages_fp, "data": it.data,
                               "earlier": data_fps if it.data == "accumulate" else []})
        data_dir = _training_data(pipe, it, r, final, data_fp)
        data_fps.append(data_fp)
        base = checkpoints[-1] if checkpoints else pipe.config.llm.model
        upstream = fingerprint({"train": it.train, "base": base, "data": data_fp})
        checkpoints += _train_round(it, round_dir, data_dir, base, upstream)
    rundir.write_json(pipe.run_dir / "iterations.json", {"rounds": it.rounds, "checkpoints": checkpoints})
    return final


def _done(marker: Path, fp: str) -> dict[str, Any] | None:
    """The ``_SUCCESS`` record when it was written under ``fp``; None when the step must run."""
    if not marker.exists():
        return None
    record = rundir.read_json(marker)
    if record.get("fingerprint") == fp:
        return record
    log.info("%s: its inputs or config changed, redoing it", marker.parent)
    return None


def _training_data(pipe: Pipeline, it: IterationsConfig, r: int, final: "datasets.Dataset", fp: str) -> Path:
    import datasets

    out = pipe.run_dir / f"round_{r:02d}" / "train_data"
    if _done(out / "_SUCCESS", fp):
        return out
    parts = [final]
    if it.data == "accumulate":
        parts = [datasets.load_from_disk(str(pipe.run_dir / f"round_{i:02d}" / "train_data" / "data"))
                 for i in range(1, r)] + [final]
        parts = [p.select_columns(["messages"]) for p in parts]
    rows = sum(len(p) for p in parts)
    if rows == 0:
        raise DataError(f"round {r} kept no rows, so there is nothing to train on; loosen the filters "
                        "(judge threshold, verify_tests min_pass_rate), sample more, or use "
                        "`iterations.data: accumulate`")
    shutil.rmtree(out, ignore_errors=True)
    datasets.concatenate_datasets(parts).save_to_disk(str(out / "data"))
    rundir.write_json(out / "_SUCCESS", {"rows": rows, "fingerprint": fp})
    return out


def _train_round(it: IterationsConfig, round_dir: Path, data_dir: Path, base: str, fp: str) -> list[str]:
    from synthkit.llm.lora import merge_or_load
    from synthkit.train.config import parse_train_config
    from synthkit.train.resume import resumable
    from synthkit.train.trainer import train

    marker = round_dir / "train" / "_SUCCESS"
    done = _done(marker, fp)
    if done:
        return done["checkpoints"]
    raw = {**it.train, "model": base, "dataset": str(data_dir / "data"), "output_dir": str(round_dir / "train")}
    cfg = parse_train_config(raw, where="iterations.train")
    marker.unlink(missing_ok=True)
    # The round's fingerprint names the run: a training under it that a kill interrupted resumes from its last
    # complete checkpoint; one under other inputs (train block, base model, data) is deleted and started over.
    result = train(cfg, overwrite=not resumable(cfg, fp), data_fingerprint=fp)
    merged = [str(merge_or_load(c.path)) for c in result.checkpoints]
    rundir.write_json(marker, {"checkpoints": merged, "base": base, "fingerprint": fp})
    return merged

"""The loop: an optional bootstrap, the rounds, an optional final step.

Each round lives in ``runs/<name>/round_NN/``: the stage folders, ``train_data/``
(``id`` and ``messages``, from ``synthkit.rounds.samples.training_rows`` per
``train_on``) and ``train/`` (checkpoints). The merged checkpoints a round's
``train/_SUCCESS`` lists are registered and reach the next round's stages as
``ctx.checkpoints``; round r trains from the last checkpoint before it.

A step is skipped only when its ``_SUCCESS`` holds the same fingerprint; a killed
round resumes at its stage or shard, and its training from the last complete
checkpoint. Fingerprints: docs/methods/scoder.md, "Fingerprints of a round".
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from synthkit.core import rundir
from synthkit.core.pipeline import Pipeline, fingerprint
from synthkit.errors import ConfigError, DataError
from synthkit.rounds.bootstrap import bootstrap
from synthkit.rounds.config import IterationsConfig, parse_iterations, resolve_train_on
from synthkit.rounds.final import run_final
from synthkit.rounds.samples import training_rows
from synthkit.rounds.steps import LoopState, done, train_step, write_data

if TYPE_CHECKING:
    import datasets

log = logging.getLogger(__name__)


def run(pipe: Pipeline) -> "datasets.Dataset":
    """Run ``pipe``: its rounds when it has ``iterations:``, else its stages once."""
    return run_rounds(pipe) if pipe.config.iterations is not None else pipe.run()


def run_rounds(pipe: Pipeline) -> "datasets.Dataset":
    """Bootstrap (optional), ``rounds`` rounds, final step (optional); the dataset of the last stage run."""
    if pipe.config.iterations is None:
        raise ConfigError("iterations: this pipeline has no `iterations:` block; run it with Pipeline.run()")
    it = parse_iterations(pipe.config.iterations)
    train_on = resolve_train_on(it, [c.stage for c in pipe.stage_configs])
    if (it.final is not None or it.bootstrap is not None) and not any(
            getattr(c, "use_last_checkpoints", 0) for c in pipe.stage_configs):
        raise ConfigError("iterations: with `bootstrap` or `final`, a sampling stage must sample from the trained "
                          "synthesizer; set `use_last_checkpoints: 1` (or M) on the synthesize stage")
    state = LoopState(base=pipe.config.llm.model)
    if it.bootstrap is not None:
        state = bootstrap(pipe, it, state)
    data_fps: list[str] = [state.upstream] if it.bootstrap is not None else []   # accumulate: bootstrap's too
    final = None
    for r in range(1, it.rounds + 1):
        round_dir = pipe.run_dir / f"round_{r:02d}"
        log.info("round %d/%d: sampling from %s", r, it.rounds, state.checkpoints[-1:] or state.base)
        final = pipe.run_stages(round_dir, state.checkpoints, upstream=state.upstream)
        stages_fp = rundir.read_json(round_dir / "report.json")["fingerprint"]
        data_fp = fingerprint({"stages": stages_fp, "data": it.data, "train_on": train_on,
                               "earlier": data_fps if it.data == "accumulate" else []})
        data_dir = training_data(pipe, it, r, training_rows(final, train_on, f"round {r}"), data_fp)
        data_fps.append(data_fp)
        state = train_step(it.train, round_dir, data_dir, state, data_fp)
    rundir.write_json(pipe.run_dir / "iterations.json", {"rounds": it.rounds, "checkpoints": state.checkpoints,
                                                         "train_on": train_on})
    if it.final is not None:
        final = run_final(pipe, it.final, state)
    return final


def training_data(pipe: Pipeline, it: IterationsConfig, r: int, rows: "datasets.Dataset", fp: str) -> Path:
    """Write round ``r``'s training rows (``id``, ``messages``; with ``accumulate`` the bootstrap's and the
    earlier rounds' too)."""
    import datasets

    out = pipe.run_dir / f"round_{r:02d}" / "train_data"
    if done(out / "_SUCCESS", fp):
        return out
    parts = [rows]
    if it.data == "accumulate":
        earlier = [pipe.run_dir / "bootstrap"] if it.bootstrap is not None else []
        earlier += [pipe.run_dir / f"round_{i:02d}" for i in range(1, r)]
        parts = [datasets.load_from_disk(str(d / "train_data" / "data")) for d in earlier] + [rows]
    total = sum(len(p) for p in parts)
    if total == 0:
        raise DataError(f"round {r} kept no rows, so there is nothing to train on; loosen the filters "
                        "(judge threshold, verify_tests min_pass_rate), sample more, or use "
                        "`iterations.data: accumulate`")
    write_data(out, datasets.concatenate_datasets([p.select_columns(["id", "messages"]) for p in parts if len(p)]), fp)
    return out

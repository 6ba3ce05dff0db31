"""The bootstrap: train the synthesizer on a teacher's synthesis samples before round 1.

``iterations.bootstrap``:

- ``llm:`` a live teacher (any backend). The pipeline's stages run once in
  ``runs/<name>/bootstrap/``: ``load_seeds`` draws ``seeds`` shuffled snippets, every
  ``synthesize`` stage samples from the teacher, ``filter_influence`` and ``save``
  are left out; the kept rows' synthesis samples are trained on.
- ``file:`` teacher synthesis samples made elsewhere
  (``synthkit.rounds.samples.load_sample_file``), trained on as given.

The training (``bootstrap.train``, else ``iterations.train``) starts from
``llm.model``; its checkpoints are registered before round 1's.
See docs/methods/scoder.md for the method.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from synthkit.core import rundir
from synthkit.core.pipeline import Pipeline, fingerprint
from synthkit.errors import ConfigError, DataError
from synthkit.rounds.config import BootstrapConfig, IterationsConfig
from synthkit.rounds.samples import load_sample_file, training_rows
from synthkit.rounds.steps import LoopState, done, train_step, write_data

log = logging.getLogger(__name__)

LEFT_OUT = ("filter_influence", "save")


def bootstrap(pipe: Pipeline, it: IterationsConfig, state: LoopState) -> LoopState:
    """Train ``state.base`` on the teacher's samples; the state round 1 starts from."""
    b = it.bootstrap
    folder = pipe.run_dir / "bootstrap"
    if b.file is not None:
        path = (pipe.base_dir / b.file).resolve()
        rows = load_sample_file(path)
        data_fp = fingerprint({"file": hashlib.sha256(path.read_bytes()).hexdigest()})
    else:
        teacher = teacher_pipeline(pipe, b)
        log.info("bootstrap: the teacher (%s) synthesizes from %d snippets", b.llm.get("model", "?"), b.seeds)
        ds = teacher.run_stages(folder, upstream="bootstrap")
        data_fp = fingerprint({"stages": rundir.read_json(folder / "report.json")["fingerprint"]})
        rows = training_rows(ds, "synthesis", "bootstrap")
    data_dir = folder / "train_data"
    if not done(data_dir / "_SUCCESS", data_fp):
        if len(rows) == 0:
            raise DataError("bootstrap: no teacher sample passed the filters, so there is nothing to train on; "
                            f"see {folder}/*/stats.json for where they were dropped, or raise bootstrap.seeds")
        write_data(data_dir, rows.select_columns(["id", "messages"]), data_fp)
    log.info("bootstrap: training %s on %d teacher samples", state.base, len(rows))
    return train_step(b.train if b.train is not None else it.train, folder, data_dir, state, data_fp,
                      where="iterations.bootstrap.train")


def teacher_pipeline(pipe: Pipeline, b: BootstrapConfig) -> Pipeline:
    """The pipeline's stages with the teacher in every synthesize stage (see module doc)."""
    stages: list[dict[str, Any]] = []
    for raw in pipe.config.stages:
        if raw.get("stage") in LEFT_OUT:
            continue
        stage = dict(raw)
        if stage.get("stage") == "load_seeds":
            stage.update(limit=b.seeds, shuffle=True)
        elif stage.get("stage") == "synthesize":
            stage.update(llm={**(stage.get("llm") or {}), **b.llm}, checkpoints=[], use_last_checkpoints=0)
            if b.n is not None:
                stage["n"] = b.n
        stages.append(stage)
    names = [s.get("stage") for s in stages]
    if "synthesize" not in names or names[0] != "load_seeds":
        raise ConfigError("iterations.bootstrap.llm: a live teacher needs a pipeline that starts with load_seeds "
                          f"and has a synthesize stage (it has: {', '.join(map(str, names))}); use "
                          "bootstrap.file for samples made elsewhere")
    return Pipeline(stages, name=pipe.config.name, seed=pipe.config.seed,
                    llm=pipe.config.llm.model_dump(exclude_unset=True), workdir=pipe.workdir,
                    base_dir=pipe.base_dir, executor=pipe.config.executor,
                    ray=pipe.config.ray.model_dump(exclude_unset=True))

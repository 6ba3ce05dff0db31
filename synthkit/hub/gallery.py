"""``data_cards/``: the rendered cards of the bundled pipelines' CPU runs.

``make_gallery(pipelines, out)`` runs each pipeline file as it is (its own
workdir, so a rerun skips finished stages), then copies the card its ``save``
stage wrote, with ``images/``, to ``out/<pipeline name>/``. The data itself is
not copied: the gallery shows what a synthkit dataset looks like before anyone
installs anything. Regenerate all of it with ``synthkit card --gallery`` from
the repository root: the single-pass bundled pipelines, quickstart (about 2
minutes on 2 idle CPUs, the embedded model writing 8 answers) and scoder
(about 8 minutes). Name pipelines to run only those.

Showcase settings: a gallery card should show rows that pass their tests, and
the embedded 135M model rarely writes a program that passes every test of its
own. ``SHOWCASE[name]`` sets, by stage name, what the gallery run changes in
that pipeline (as ``-o`` overrides, so the card's ``pipeline.yaml`` records
them and reruns them). ``scoder`` keeps only exercises whose reference
solution passes all its tests (``min_pass_rate: 1.0``, SCoder's own rule). The
embedded model almost never writes one from the stdlib snippets scoder.yaml
draws: 3 of 256 answers in bench/judge_auroc.py's fixture, and 0 of 51 parsed
answers on the 6 snippets that did best there (4 answers each at temperature
0.8, then 8 each at 0.3). So the showcase seeds are 8 one-statement functions
(synthkit/data/seeds/scoder_showcase.jsonl: square, add, is_even, ...), 4
answers each at temperature 0.3, where its exercises do pass their tests.
``quickstart`` needs none: its seeds carry tests and its ``verify_tests`` keeps
passing answers (see pipelines/quickstart.yaml for how those seeds were chosen).

Limit: a pipeline with ``iterations:`` (training between rounds: gift, rft,
rft_rd, scoder_iterative) is refused here; the rounds runner sits above this
layer, and their final rounds' cards look like scoder's.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any, Sequence

from synthkit.errors import ConfigError
from synthkit.hub import layout

log = logging.getLogger(__name__)

DEFAULT_PIPELINES = ("pipelines/quickstart.yaml", "pipelines/scoder.yaml")
# pipeline name -> stage name -> the keys the gallery run sets (see the module doc)
SHOWCASE: dict[str, dict[str, dict[str, Any]]] = {
    "scoder": {"load_seeds": {"source": None, "shuffle": False, "limit": None,
                              "path": "../synthkit/data/seeds/scoder_showcase.jsonl"},
               "synthesize": {"n": 4, "temperature": 0.3}, "verify_tests": {"min_pass_rate": 1.0}},
}


def showcase_overrides(raw: dict[str, Any], settings: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """``-o`` overrides (``stages.N.key=value``) for a pipeline's raw config: the
    ``SHOWCASE`` settings of its name (or ``settings``), applied to every stage of
    that name. A named stage the pipeline does not have is an error."""
    import json

    settings = SHOWCASE.get(str(raw.get("name")), {}) if settings is None else settings
    stages = [st.get("stage") if isinstance(st, dict) else None for st in raw.get("stages") or []]
    out = []
    for name, keys in settings.items():
        where = [i for i, st in enumerate(stages) if st == name]
        if not where:
            raise ConfigError(f"gallery showcase for {raw.get('name')!r}: no `{name}` stage in the pipeline")
        out += [f"stages.{i}.{k}={json.dumps(v)}" for i in where for k, v in keys.items()]
    return out


def make_gallery(pipelines: Sequence[str | Path] = DEFAULT_PIPELINES, out: str | Path = "data_cards") -> list[Path]:
    """Run each pipeline and copy its card to ``out/<name>/``; returns the cards written."""
    from synthkit.core.config import load_raw
    from synthkit.core.pipeline import Pipeline

    planned = []
    for path in pipelines:  # every file is checked before the first one runs
        pipe = Pipeline.from_yaml(path, showcase_overrides(load_raw(path)))
        if pipe.config.iterations is not None:
            raise ConfigError(f"{path}: has iterations:, which the gallery does not run; list single-pass pipelines")
        saves = [s for s in pipe.build() if s.name == "save"]
        if not saves:
            raise ConfigError(f"{path}: no save stage, so no card to copy")
        planned.append((path, pipe, saves))
    written = []
    for path, pipe, saves in planned:
        pipe.run()
        written.append(copy_card(saves[-1].out, Path(out) / pipe.config.name))
        log.info("gallery: %s -> %s", path, written[-1])
    return written


def copy_card(folder: Path, dest: Path) -> Path:
    """Copy ``folder``'s README.md and images/ to ``dest`` (replacing what was there)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copyfile(folder / layout.CARD, dest / layout.CARD)
    if (folder / layout.IMAGES).is_dir():
        shutil.copytree(folder / layout.IMAGES, dest / layout.IMAGES)
    return dest / layout.CARD

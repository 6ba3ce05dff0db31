"""``data_cards/``: the rendered cards of the bundled pipelines' CPU runs.

``make_gallery(pipelines, out)`` runs each pipeline file as it is (its own
workdir, so a rerun skips finished stages), then copies the card its ``save``
stage wrote, with ``images/``, to ``out/<pipeline name>/``; the data itself is
not copied. ``SHOWCASE[name]`` sets, by stage name, what a gallery run changes
(as ``-o`` overrides, recorded in the card's ``pipeline.yaml``), so each card
shows rows that pass their tests on the embedded 135M model; how those seeds
and settings were chosen: docs/publishing.md. Regenerate with ``synthkit card
--gallery`` from the repository root (about 10 minutes on 2 idle CPUs).

Limit: a pipeline with ``iterations:`` (gift, rft, rft_rd, scoder_iterative,
scoder_full) is refused here: the rounds runner sits above this layer.
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

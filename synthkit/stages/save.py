"""`save`: write the final dataset (save_to_disk + parquet) and its data card."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from pydantic import Field

from synthkit.errors import ConfigError
from synthkit.core.registry import register_stage
from synthkit.core.stage import StageConfig, WholeStage
from synthkit.hub.card import stage_stats
from synthkit.hub.push import RUN_POINTER, write_card

log = logging.getLogger(__name__)


@register_stage("save")
class Save(WholeStage):
    """Write a `datasets` dataset to disk, a parquet copy, and a README.md data card."""

    class Config(StageConfig):
        path: str                           # output folder; relative to the pipeline file's folder
        columns: list[str] = Field(default_factory=list)  # keep only these (default: all)
        overwrite: bool = True              # replace an existing folder at `path`
        license: str = "other"              # for the card's front matter

    def process_all(self, dataset):
        cfg = self.config
        if cfg.columns:
            missing = [c for c in cfg.columns if c not in dataset.column_names]
            if missing and len(dataset):
                raise ConfigError(f"stages.{self.ctx.index}.columns: {missing} not in the dataset; "
                                  f"available: {dataset.column_names}")
            dataset = dataset.select_columns([c for c in cfg.columns if c in dataset.column_names])
        out = self.ctx.resolve(cfg.path).resolve()
        if out.exists():
            if not cfg.overwrite:
                raise ConfigError(f"stages.{self.ctx.index}.path: {out} exists and overwrite is false")
            shutil.rmtree(out)
        dataset.save_to_disk(str(out))
        (out / "parquet").mkdir()
        dataset.to_parquet(str(out / "parquet" / "data-00000.parquet"))
        run_dir = self.ctx.stage_dir.parent
        (out / RUN_POINTER).write_text(json.dumps({
            "run_dir": str(run_dir), "name": self.ctx.pipeline.get("name", out.name),
            "pipeline": self.ctx.pipeline, "license": cfg.license, "stages": stage_stats(run_dir)}, default=str))
        write_card(out)
        log.info("saved %d rows to %s", len(dataset), out)
        return dataset, []

"""`save`: write the final rows in the Hub layout, with their data card.

Writes ``path/`` as ``synthkit.hub.layout`` describes: ``data/<split>-*.parquet``
(about ``max_shard_mb`` each), ``README.md`` (the card) with ``images/``,
``pipeline.yaml``, ``report.json`` and, after ``decontaminate``, ``contamination.json``;
``datasets.load_dataset(path, split="train")`` reads it back. ``validation_fraction``
cuts a ``validation`` split by task; ``save_to_disk: true`` adds ``path/save_to_disk/``.
The folder is written under a temporary name and renamed into place (a kill leaves
the old or the new one). An empty result is written too, with typed columns. The
card is rendered in ``finish_run``, from the run's final ``report.json``; without
the runner, ``synthkit card PATH`` renders it. See docs/publishing.md.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import Field

from synthkit.core.registry import register_stage
from synthkit.core.stage import StageConfig, WholeStage
from synthkit.errors import ConfigError
from synthkit.hub import layout

log = logging.getLogger(__name__)


@register_stage("save")
class Save(WholeStage):
    """Write the dataset in the Hub layout (sharded parquet, README.md card with plots, run files)."""

    reads, writes = (), ()  # reads `columns` when set

    def columns_read(self) -> list:
        return [(c, "columns") for c in self.config.columns]

    class Config(StageConfig):
        path: str = Field(description="output folder; relative to the pipeline file's folder")
        columns: list[str] = Field(default_factory=list, description="keep only these (default: all)")
        overwrite: bool = Field(True, description="replace a dataset folder synthkit wrote earlier at `path`")
        license: str = Field("other", description="card metadata: a Hub licence id (apache-2.0, mit, other, ...)")
        language: list[str] = Field(default_factory=lambda: ["en"], description="card metadata: ISO 639-1 codes")
        pretty_name: str | None = Field(None, description="card title (default: the pipeline name)")
        tags: list[str] = Field(default_factory=list, description="card tags, besides code, synthetic, synthkit")
        validation_fraction: float = Field(0.0, ge=0, lt=1, description=(
            "share of rows in a `validation` split, by task"))
        split_by: str = Field("id", description="task key: the root of `id` (before the first '/'), or a column")
        max_shard_mb: float = Field(500.0, gt=0, description=(
            "parquet files of about this many MB of Arrow data at most"))
        save_to_disk: bool = Field(False, description="also write path/save_to_disk/ for datasets.load_from_disk")

    @property
    def out(self) -> Path:
        return self.ctx.resolve(self.config.path).resolve()

    def process_all(self, dataset):
        cfg = self.config
        if cfg.columns:
            missing = [c for c in cfg.columns if c not in dataset.column_names]
            if missing and len(dataset):
                raise ConfigError(f"stages.{self.ctx.index}.columns: {missing} not in the dataset; "
                                  f"available: {dataset.column_names}")
            dataset = dataset.select_columns([c for c in cfg.columns if c in dataset.column_names])
        out = self.out
        _check_replaceable(out, cfg.overwrite, self.ctx.index)
        tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            self._write(tmp, _table(dataset))
            _swap(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("saved %d rows to %s", len(dataset), out)
        return dataset, []

    def _write(self, folder: Path, table) -> None:
        import yaml

        from synthkit.hub import provenance

        cfg = self.config
        splits = layout.split_by_task(table, cfg.validation_fraction, self.ctx.seed, cfg.split_by)
        for name, part in splits.items():
            layout.write_split(folder, name, part, int(cfg.max_shard_mb * 1024 * 1024))
        if cfg.save_to_disk:
            _save_to_disk(folder / layout.DISK, splits)
        record = self.ctx.rerun() if self.ctx.rerun else self.ctx.pipeline  # core.rerun: reruns as written
        (folder / layout.PIPELINE).write_text(yaml.safe_dump(record, sort_keys=False))
        stages, contamination = self._earlier_stages()
        if contamination:
            shutil.copyfile(contamination, folder / layout.CONTAMINATION)
        pipe = self.ctx.pipeline
        report = {"name": pipe.get("name"), "seed": self.ctx.seed, "rows_out": table.num_rows, "stages": stages,
                  "provenance": provenance.provenance(self.ctx.seed), "card": self._card_settings(splits)}
        (folder / layout.REPORT).write_text(json.dumps(report, indent=2, default=str))

    def _card_settings(self, splits: dict[str, Any]) -> dict[str, Any]:
        cfg = self.config
        out = {"license": cfg.license, "language": cfg.language, "pretty_name": cfg.pretty_name, "tags": cfg.tags}
        if len(splits) > 1:
            key = "the root of `id`" if cfg.split_by == "id" else f"`{cfg.split_by}`"
            out["split"] = (f"Splits are cut by task ({key}), so no task is in two splits: validation_fraction "
                            f"{cfg.validation_fraction}, seed {self.ctx.seed}.")
        return out

    def _earlier_stages(self) -> tuple[list[dict[str, Any]], Path | None]:
        """The stats of the stages before this one (this run's folders only) and
        the first decontaminate report among them."""
        run_dir = self.ctx.stage_dir.parent
        stats, contamination = [], None
        for i in range(self.ctx.index):
            # a stage now at index i wrote NN_<name>/ last; an older config may have left another
            found = sorted(run_dir.glob(f"{i:02d}_*/stats.json"), key=lambda p: p.stat().st_mtime)
            if not found:
                continue
            stats.append(json.loads(found[-1].read_text()))
            if contamination is None and (found[-1].parent / "contamination.json").is_file():
                contamination = found[-1].parent / "contamination.json"
        return stats, contamination

    def finish_run(self, report: dict[str, Any]) -> None:
        """Called by the runner with the run's final report: keep it beside the
        data (with the provenance recorded in ``process_all``) and render the card."""
        from synthkit.hub import card

        path = self.out / layout.REPORT
        if not path.is_file():
            log.warning("save: %s is missing; remove %s and run again to rewrite it", self.out, self.ctx.stage_dir)
            return
        old = json.loads(path.read_text())
        merged = {**report, "rows_out": old.get("rows_out", report.get("rows_out")),
                  "provenance": old.get("provenance"), "card": old.get("card", {})}
        path.write_text(json.dumps(merged, indent=2, default=str))
        card.render(self.out)


def _table(dataset):
    if getattr(dataset, "_indices", None) is not None:
        dataset = dataset.flatten_indices()
    return dataset.data.table


def _check_replaceable(out: Path, overwrite: bool, index: int) -> None:
    if not out.exists():
        return
    if not overwrite:
        raise ConfigError(f"stages.{index}.path: {out} exists and overwrite is false")
    ours = (out / layout.DATA).is_dir() or (out / layout.CARD).is_file() or (out / "state.json").is_file()
    if out.is_file() or (not ours and any(out.iterdir())):
        raise ConfigError(f"stages.{index}.path: {out} exists and is not a dataset folder synthkit wrote; "
                          "refusing to replace it (pick another path or remove it)")


def _swap(tmp: Path, out: Path) -> None:
    """Put ``tmp`` at ``out``: the old folder stays whole until the new one is in place."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _save_to_disk(path: Path, splits: dict[str, Any]) -> None:
    import datasets

    parts = {name: datasets.Dataset(table) for name, table in splits.items()}
    if sum(len(p) for p in parts.values()) == 0:
        log.warning("save: no rows, so no save_to_disk copy (datasets cannot write an empty one)")
        return
    (datasets.DatasetDict(parts) if len(parts) > 1 else parts["train"]).save_to_disk(str(path))

"""load_seeds: the first stage; turns files, packages or datasets into seed rows.

Exactly one input: ``path:`` (a .jsonl, .parquet or ``save_to_disk`` folder, rows
as they are; ids kept as str, or ``stable_id`` of the content), ``source:`` (code
cut into one row ``{id, seed, meta}`` per top-level def within ``min_lines`` ..
``max_lines``; others rejected as ``too_short``, ``too_long``, ``unparseable``;
``synthkit.seeds.sources``), or ``tasks:`` (a task set with tests, for GiFT and
RFT, one ``eval.programs.task_row`` per task). The held-out split never enters:
``tasks: bundled:test`` fails at load time and its tasks read from elsewhere are
rejected as ``held_out``. Order is the source order; ``shuffle: true`` permutes it
(seeded), then ``limit`` keeps the first N. The stage ignores its input.
Details: docs/pipelines.md.
"""

from __future__ import annotations

import logging
import random
from typing import Any, Literal

from pydantic import Field, model_validator

from synthkit.core.record import Rejected, Row, assign_ids
from synthkit.core.registry import register_stage
from synthkit.core.sampling import derive_seed
from synthkit.core.stage import StageConfig, WholeStage
from synthkit.data.tasksets import looks_like_path
from synthkit.errors import DataError
from synthkit.seeds.sources import SeedSource

log = logging.getLogger(__name__)

HELD_OUT = "bundled:test"   # the split `synthkit eval` scores on and `decontaminate` always removes


@register_stage("load_seeds")
class LoadSeeds(WholeStage):
    """Load seed rows from jsonl/parquet/HF data, or cut them out of Python source."""

    reads_input = False  # a source: it reads `path`/`source`, never the rows before it
    writes = ("id", "seed", "instruction", "tests", "io_tests", "entry_point", "code", "meta")  # tasks/source

    class Config(StageConfig):
        path: str | None = Field(None, description="rows as-is: .jsonl, .parquet or save_to_disk dir")
        split: str | None = Field(None, description="split of a DatasetDict directory at `path`")
        source: SeedSource | None = Field(None, description="or: code to extract snippets from")
        tasks: str | None = Field(None, description=(
            "or: a task set with tests (bundled, bundled:train, humaneval, a file)"))
        min_lines: int = Field(4, ge=1, description="snippet bounds (physical lines, decorators included)")
        max_lines: int = Field(60, ge=1, description="longest snippet kept (physical lines, decorators included)")
        docstrings: Literal["keep", "strip"] = Field("keep", description="keep or strip the snippets' docstrings")
        limit: int | None = Field(None, ge=1, description="keep the first N (after shuffle)")
        shuffle: bool = Field(False, description="seeded by pipeline seed + stage index")

        @model_validator(mode="after")
        def _one_input(self):
            if sum(x is not None for x in (self.path, self.source, self.tasks)) != 1:
                raise ValueError("set exactly one of `path` (rows as-is), `source` (code to extract) or "
                                 "`tasks` (a task set with tests)")
            if self.tasks == HELD_OUT:
                raise ValueError(f"tasks: {HELD_OUT} is the held-out evaluation split and is never training "
                                 "input (decontaminate removes it); use bundled:train")
            if self.min_lines > self.max_lines:
                raise ValueError(f"min_lines ({self.min_lines}) > max_lines ({self.max_lines})")
            return self

    def columns_written(self) -> tuple[str, ...] | None:
        """``tasks``: a task row's columns; ``source``: id, seed, meta; ``path``: the
        file's own columns plus id (None when the file cannot be read yet)."""
        if self.config.tasks is not None:
            return self.writes
        if self.config.source is not None:
            return ("id", "seed", "meta")
        from synthkit.seeds.inputs import file_columns

        found = file_columns(self.ctx.resolve(self.config.path), self.config.split)
        return None if found is None else ("id", *found)

    def check(self) -> None:
        """A local input that does not exist fails here (``synthkit validate``), with its path."""
        from synthkit.seeds.inputs import check_inputs

        check_inputs(self.config, self.ctx.resolve)

    def inputs(self) -> list[dict[str, Any]]:
        from synthkit.seeds.inputs import identify

        return identify(self.config, self.ctx.resolve, self.ctx.index)

    def fingerprint_extra(self) -> dict[str, Any]:
        """The local files read (``path``, or a source's file or folder): name, size and
        mtime of each, so edited seed data reruns the pipeline. Packages and Hub ids
        are identified by their config alone."""
        src = self.config.source
        ref = self.config.path or getattr(src, "path", None) or getattr(src, "path_or_id", None)
        if self.config.tasks is not None:
            ref = self.config.tasks if looks_like_path(self.config.tasks) else None
        path = self.ctx.resolve(ref) if ref else None
        if path is None or not path.exists():
            return {}
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        return {"files": [(f.relative_to(path).as_posix() if path.is_dir() else f.name, f.stat().st_size,
                           f.stat().st_mtime_ns) for f in files]}

    def process_all(self, dataset: Any) -> tuple[list[Row], list[Rejected]]:
        if self.config.path is not None:
            rows, rejected = self._load_rows(), []
        elif self.config.tasks is not None:
            rows, rejected = self._load_tasks()
        else:
            rows, rejected = self._extract()
        if self.config.shuffle:
            random.Random(derive_seed(self.ctx.seed, self.ctx.index, "load_seeds")).shuffle(rows)
        if self.config.limit is not None:
            rows = rows[: self.config.limit]
        log.info("load_seeds: %d rows (%d skipped)", len(rows), len(rejected))
        return rows, rejected

    def _load_rows(self) -> list[Row]:
        from synthkit.data.records import read_rows

        path = self.ctx.resolve(self.config.path)
        rows = read_rows(path, "seed file", self.config.split)
        if rows and all("id" in r for r in rows):
            seen: set[str] = set()
            for i, r in enumerate(rows):
                r["id"] = str(r["id"])
                if r["id"] in seen:
                    raise DataError(f"{path}: duplicate id '{r['id']}' (row {i}); ids must be unique")
                seen.add(r["id"])
            return rows
        if any("id" in r for r in rows):
            raise DataError(f"{path}: some rows have an 'id' and some do not; give all or none")
        return assign_ids(rows)

    def _load_tasks(self) -> tuple[list[Row], list[Rejected]]:
        from synthkit.data.bundled import load_bundled
        from synthkit.eval.programs import task_row
        from synthkit.eval.tasks import load_tasks

        spec = self.config.tasks
        if looks_like_path(spec):
            spec = str(self.ctx.resolve(spec))
        held_out = {t["task_id"] for t in load_bundled(split="test")}
        rows: list[Row] = []
        rejected: list[Rejected] = []
        for task in load_tasks(spec):
            base = task_row(task)
            row = {**base, "meta": {**base["meta"], "stage": "load_seeds"}}
            if task.task_id in held_out:
                rejected.append(Rejected(row, "held_out", f"{task.task_id} is in {HELD_OUT}, the held-out "
                                                          "evaluation split; it is never training input"))
            else:
                rows.append(row)
        seen: set[str] = set()
        for row in rows:
            if row["id"] in seen:
                raise DataError(f"tasks {self.config.tasks}: duplicate task id '{row['id']}'")
            seen.add(row["id"])
        return rows, rejected

    def _extract(self) -> tuple[list[Row], list[Rejected]]:
        from synthkit.seeds.snippets import extract_snippets
        from synthkit.seeds.sources import iter_documents

        cfg = self.config
        rows: list[Row] = []
        rejected: list[Rejected] = []
        for doc in iter_documents(cfg.source, self.ctx.resolve):
            base = {**doc.meta, "source": cfg.source.kind, "stage": "load_seeds"}
            if not doc.extract:
                rows.append({"seed": doc.text, "meta": {**base, "line": 1, "name": None,
                                                        "kind": "document",
                                                        "lines": len(doc.text.splitlines())}})
                continue
            snippets, skips = extract_snippets(doc.text, min_lines=cfg.min_lines,
                                               max_lines=cfg.max_lines, docstrings=cfg.docstrings)
            for s in snippets:
                rows.append({"seed": s.text, "meta": {**base, "line": s.line, "name": s.name,
                                                      "kind": s.kind, "lines": s.n_lines}})
            for k in skips:
                row = {"id": f"skip/{doc.meta.get('path')}:{k.line}:{k.name}", "seed": "",
                       "meta": {**base, "line": k.line, "name": k.name}}
                rejected.append(Rejected(row, k.reason, k.detail))
        return assign_ids(rows), rejected


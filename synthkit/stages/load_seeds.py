"""load_seeds: the first stage; turns files, packages or datasets into seed rows.

Exactly one of two inputs:

- ``path:`` a local ``.jsonl``, ``.parquet`` or ``save_to_disk`` directory whose
  rows are taken as they are (any columns). An ``id`` column is kept (cast to
  str; duplicates are a ``DataError``); without one, each row gets
  ``stable_id`` of its content, suffixed ``-1``, ``-2``… for exact duplicates.
- ``source:`` code to cut seeds from (see ``synthkit.seeds.sources``). Each
  top-level function or class with ``min_lines <= lines <= max_lines``
  becomes a row ``{id, seed, meta}``; meta holds ``module``, ``path``,
  ``line``, ``name``, ``kind``, ``lines``, ``license``, ``source``.
  Defs outside the bounds, and files that do not parse, come back as
  rejections (``too_short``, ``too_long``, ``unparseable``) so the stats show them.

Order is deterministic (source order); ``shuffle: true`` permutes it with a
seed derived from the pipeline seed and the stage index; ``limit`` then keeps
the first N. The stage ignores its (empty) input dataset.
"""

from __future__ import annotations

import logging
import random
from typing import Any, Literal

from pydantic import Field, model_validator

from synthkit.errors import DataError
from synthkit.core.sampling import derive_seed
from synthkit.core.record import Rejected, Row, assign_ids
from synthkit.core.registry import register_stage
from synthkit.core.stage import StageConfig, WholeStage
from synthkit.seeds.sources import SeedSource

log = logging.getLogger(__name__)


@register_stage("load_seeds")
class LoadSeeds(WholeStage):
    """Load seed rows from jsonl/parquet/HF data, or cut them out of Python source."""

    reads_input = False  # a source: it reads `path`/`source`, never the rows before it

    class Config(StageConfig):
        path: str | None = None            # rows as-is: .jsonl, .parquet or save_to_disk dir
        split: str | None = None           # split of a DatasetDict directory at `path`
        source: SeedSource | None = None   # or: code to extract snippets from
        min_lines: int = Field(4, ge=1)    # snippet bounds (physical lines, decorators included)
        max_lines: int = Field(60, ge=1)
        docstrings: Literal["keep", "strip"] = "keep"
        limit: int | None = Field(None, ge=1)  # keep the first N (after shuffle)
        shuffle: bool = False              # seeded by pipeline seed + stage index

        @model_validator(mode="after")
        def _one_input(self):
            if (self.path is None) == (self.source is None):
                raise ValueError("set exactly one of `path` (rows as-is) or `source` (code to extract)")
            if self.min_lines > self.max_lines:
                raise ValueError(f"min_lines ({self.min_lines}) > max_lines ({self.max_lines})")
            return self

    def fingerprint_extra(self) -> dict[str, Any]:
        """The local files read (``path``, or a source's file or folder): name, size and
        mtime of each, so edited seed data reruns the pipeline. Packages and Hub ids
        are identified by their config alone."""
        src = self.config.source
        ref = self.config.path or getattr(src, "path", None) or getattr(src, "path_or_id", None)
        path = self.ctx.resolve(ref) if ref else None
        if path is None or not path.exists():
            return {}
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        return {"files": [(f.relative_to(path).as_posix() if path.is_dir() else f.name, f.stat().st_size,
                           f.stat().st_mtime_ns) for f in files]}

    def process_all(self, dataset: Any) -> tuple[list[Row], list[Rejected]]:
        if self.config.path is not None:
            rows, rejected = self._load_rows(), []
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


"""decontaminate: drop rows that overlap an evaluation benchmark.

Compares ``columns`` with every item of ``benchmarks`` (a ``synthkit.data.tasksets``
name, ``hub:<id>[:split]``, a local .jsonl/.json/.parquet file, or ``{name|path,
prompt_fields, solution_fields, id_field}``); ``bundled:test`` is always added.
``detectors`` (all by default, ``synthkit.dedup.contamination``): ``substring``,
``ngram`` (words, or normalised code tokens) and ``minhash`` (Jaccard >= ``threshold``).
A dropped row gets reason ``contaminated``, a detail naming item, detector and span,
a ``contamination`` column (the matches) and ``contamination_items`` (each matched
item's prompt and first solution, cut at 4,000 characters). Writes
``<stage_dir>/contamination.json``: ``summary`` (counts per benchmark and detector;
also ``self.summary``) and ``removed`` (each row's matches). Distributed: each
worker builds the detector once (``map_shard``); ``reduce_shards`` reports.
Detectors, recall and costs: docs/dedup.md.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from synthkit.core.record import Rejected, rows_at
from synthkit.core.registry import register_stage
from synthkit.core.shards import Verdicts
from synthkit.core.stage import StageConfig, WholeStage
from synthkit.data.tasksets import NAMES, SPECS, looks_like_path
from synthkit.errors import ConfigError, DataError

log = logging.getLogger(__name__)

BUNDLED = "bundled:test"
DETECTORS = ("substring", "ngram", "minhash")   # = synthkit.dedup.contamination.DETECTORS (numpy-free here)
Detector = Literal["substring", "ngram", "minhash"]


class BenchmarkRef(BaseModel):
    """A benchmark by name, by local file, or a known name read from a local copy."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="a known name or hub:<id>[:split]; with path, a label")
    path: str | None = Field(None, description="local .jsonl/.jsonl.gz/.json/.parquet")
    prompt_fields: list[str] | None = Field(None, description="default: the format's, or guessed")
    solution_fields: list[str] | None = Field(None, description="columns holding solutions; default: the format's, or guessed")
    id_field: str | None = Field(None, description="column holding the item id, named in contamination.json; default: the format's")

    @model_validator(mode="after")
    def _known(self):
        if self.path is None and not _is_name(self.name):
            raise ValueError(f"Unknown benchmark '{self.name}'. Available: {SPECS}")
        return self


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and (value in NAMES or value.startswith("hub:"))


def _as_ref(value: Any) -> BenchmarkRef:
    if isinstance(value, BenchmarkRef):
        return value
    if isinstance(value, dict):
        return BenchmarkRef(**value)
    if _is_name(value):
        return BenchmarkRef(name=value)
    if isinstance(value, str) and looks_like_path(value):
        return BenchmarkRef(path=value)
    raise ValueError(f"Unknown benchmark '{value}'. Available: {SPECS}")


@register_stage("decontaminate")
class Decontaminate(WholeStage):
    """Drop rows overlapping a benchmark (substring, n-gram, MinHash); write contamination.json."""

    distributed = True  # map_shard checks one shard (a detector per worker); reduce_shards reports

    reads, writes = (), ()  # reads `columns` (columns_read)

    def columns_read(self) -> list:
        return [(c, "columns") for c in self.config.columns]

    class Config(StageConfig):
        former_keys = {"minhash_threshold": "threshold", "minhash_perm": "num_perm", "num_workers": "workers",
                       **{d: "detectors (a list of those that run)" for d in DETECTORS}}
        benchmarks: list[BenchmarkRef] = Field(default_factory=lambda: [BenchmarkRef(name="humaneval")], description=(
            "benchmarks to remove: names, paths or {name, path, ...}; the held-out bundled:test is always added"))
        columns: list[str] = Field(default_factory=lambda: ["instruction", "code"], min_length=1, description=(
            "columns compared against the benchmarks"))
        detectors: list[Detector] = Field(default_factory=lambda: list(DETECTORS), min_length=1, description=(
            "which run"))
        min_substring_chars: int = Field(50, ge=8, description="substring: shorter benchmark strings are not matched")
        ngram_text: int = Field(10, ge=3, description="ngram: words per n-gram, text view")
        ngram_code: int = Field(24, ge=3, description="ngram: normalised code tokens per n-gram, code view")
        max_item_share: int = Field(3, ge=2, description="n-grams in this many benchmark items are boilerplate")
        threshold: float = Field(0.7, gt=0, lt=1, description="minhash: estimated Jaccard that counts as contaminated")
        num_perm: int = Field(128, ge=16, le=1024, description="minhash: permutations for that estimate")
        min_tokens: int = Field(20, ge=1, description="minhash: shorter views are not compared")
        max_solutions: int = Field(5, ge=1, description="solutions per benchmark item (APPS has dozens)")
        batch_rows: int = Field(512, ge=1, description="rows checked per batch")
        workers: int = Field(0, ge=0, description="processes; 0 = one per core from 5,000 rows on")

        @field_validator("detectors")
        @classmethod
        def _no_repeats(cls, value: list[str]) -> list[str]:
            return [d for d in DETECTORS if d in value]    # canonical order, each once

        @field_validator("benchmarks", mode="before", json_schema_input_type=list[BenchmarkRef | str] | BenchmarkRef | str)
        @classmethod
        def _refs(cls, value: Any) -> list[BenchmarkRef]:
            if isinstance(value, (str, dict)):
                value = [value]
            return [_as_ref(v) for v in value]

    def __init__(self, config: StageConfig, ctx: Any) -> None:
        super().__init__(config, ctx)
        self.summary: dict[str, Any] = {}
        self._detector = None
        self._counts: dict[str, int] = {}
        self._items: dict[tuple[str, str], Any] = {}

    def detect_settings(self):
        """The library settings, fed by field name (config and ``DetectSettings`` share them)."""
        from dataclasses import fields

        from synthkit.dedup.contamination import DetectSettings

        same = {f.name for f in fields(DetectSettings)} & set(type(self.config).model_fields)
        return DetectSettings(**self.config.model_dump(include=same))

    def check(self) -> None:
        """A benchmark file that does not exist fails at ``synthkit validate``, with its path."""
        for i, ref in enumerate(self.config.benchmarks):
            if ref.path and not self.ctx.resolve(ref.path).exists():
                raise ConfigError(f"stages.{self.ctx.index}.benchmarks.{i}.path: "
                                  f"{self.ctx.resolve(ref.path).resolve()} does not exist")

    def load_items(self) -> list:
        from synthkit.dedup.benchmarks import load_benchmark

        refs = list(self.config.benchmarks)
        if not any(r.name in (BUNDLED, "bundled") and r.path is None for r in refs):
            refs.append(BenchmarkRef(name=BUNDLED))
        items, self._counts = [], {}
        for ref in refs:
            path = str(self.ctx.resolve(ref.path)) if ref.path else None
            got = load_benchmark(ref.name, path, ref.prompt_fields, ref.solution_fields, ref.id_field,
                                 self.config.max_solutions)
            label = ref.name or Path(ref.path).stem
            self._counts[label] = self._counts.get(label, 0) + len(got)
            items.extend(got)
        self._items = {(it.benchmark, it.item_id): it for it in items}
        return items

    def setup(self) -> None:
        if self._detector is None:
            from synthkit.dedup.contamination import Decontaminator

            self._detector = Decontaminator(self.load_items(), self.detect_settings())

    def process_all(self, dataset: Any) -> tuple[Any, list[Rejected]]:
        self.setup()
        if len(dataset) == 0:
            self._write_report(0, {}, [])
            return dataset, []
        self._check_columns(dataset.column_names)
        found = self._scan(dataset)
        bad = sorted(found)
        flags = [True] * len(dataset)
        for pos in bad:
            flags[pos] = False
        clean = [i for i, ok in enumerate(flags) if ok]
        rows = rows_at(dataset, bad)
        report, rejected = [], []
        for pos, row in zip(bad, rows):
            matches = [m.to_dict() for m in found[pos]]
            report.append({"row_id": row.get("id"), "row_index": pos, "matches": matches})
            rejected.append(Rejected(dict(row, contamination=matches, contamination_items=self._matched(matches)),
                                     "contaminated", _detail(found[pos][0])))
        self._write_report(len(dataset), found, report)
        log.info("decontaminate: %d of %d rows removed (%s)", len(bad), len(dataset),
                 self.summary["by_benchmark"])
        return dataset.select(clean), rejected

    def shard_columns(self) -> list[str]:
        return list(self.config.columns)

    def reduce_shards(self, source: Any, results: list[Any]) -> Verdicts:
        """The matches ``map_shard`` found -> the same report and rejections as ``process_all``."""
        self.load_items()  # the summary's item counts; the workers build the detector
        found: dict[int, list] = {}
        for hits in results:
            found.update(hits)
        ids = source.column("id") if found else None
        bad = sorted(found)
        report, verdicts = [], Verdicts()
        for pos in bad:
            matches = [m.to_dict() for m in found[pos]]
            report.append({"row_id": ids[pos] if ids is not None else None, "row_index": pos, "matches": matches})
            verdicts.rejected[pos] = ("contaminated", _detail(found[pos][0]),
                                      {"contamination": matches, "contamination_items": self._matched(matches)})
        self._write_report(source.n, found, report)
        log.info("decontaminate: %d of %d rows removed (%s)", len(bad), source.n, self.summary["by_benchmark"])
        return verdicts

    def map_shard(self, table: Any, offset: int) -> dict[int, list]:
        """Input position -> matches, for the contaminated rows of one shard."""
        import datasets

        from synthkit.dedup.contamination import check_all

        self._check_columns(table.column_names)
        self.setup()
        found: dict[int, list] = {}
        batches = check_all(self._detector, self._batches(datasets.Dataset(table)), 1)
        for k, matches in enumerate(m for batch in batches for m in batch):
            if matches:
                found[offset + k] = matches
        return found

    def _check_columns(self, names: list[str]) -> None:
        missing = [c for c in self.config.columns if c not in names]
        if missing:
            raise DataError(f"decontaminate: columns {missing} are not in the dataset "
                            f"(it has: {', '.join(names)}); set `columns:`")

    def _scan(self, dataset: Any) -> dict[int, list]:
        """Position -> matches, for every contaminated row."""
        import os

        from synthkit.dedup.contamination import check_all

        workers = self.config.workers or (1 if len(dataset) < 5000 else os.cpu_count() or 1)
        found: dict[int, list] = {}
        for k, matches in enumerate(m for batch in check_all(self._detector, self._batches(dataset), workers)
                                    for m in batch):
            if matches:
                found[k] = matches
        return found

    def _batches(self, dataset: Any):
        from synthkit.dedup.normalize import as_text

        cols, size = self.config.columns, self.config.batch_rows
        for lo in range(0, len(dataset), size):
            part = dataset.select_columns(cols)[lo:lo + size]
            yield {c: [as_text(v) for v in part[c]] for c in cols}

    def _matched(self, matches: list[dict]) -> list[dict]:
        """Each benchmark item of ``matches`` once, with its text (see the module doc)."""
        out: dict[tuple[str, str], dict] = {}
        for m in matches:
            key = (m["benchmark"], m["item_id"])
            it = self._items.get(key)
            if key not in out and it is not None:
                out[key] = {"benchmark": it.benchmark, "item_id": it.item_id, "prompt": (it.prompt or "")[:4000],
                            "solution": (it.solutions[0] if it.solutions else "")[:4000]}
        return list(out.values())

    def _write_report(self, n: int, found: dict[int, list], removed: list[dict]) -> None:
        self.summary = self._summary(n, found)
        out = {"summary": self.summary, "removed": removed}
        self.ctx.stage_dir.mkdir(parents=True, exist_ok=True)
        (self.ctx.stage_dir / "contamination.json").write_text(json.dumps(out, indent=2, ensure_ascii=False))

    def _summary(self, n: int, found: dict[int, list]) -> dict[str, Any]:
        by_bench: dict[str, int] = {}
        by_det: dict[str, int] = {}
        for matches in found.values():
            for b in {m.benchmark for m in matches}:
                by_bench[b] = by_bench.get(b, 0) + 1
            for d in {m.detector for m in matches}:
                by_det[d] = by_det.get(d, 0) + 1
        c = self.config
        return {"rows_checked": n, "rows_removed": len(found), "benchmarks": dict(self._counts),
                "by_benchmark": dict(sorted(by_bench.items())), "by_detector": dict(sorted(by_det.items())),
                "columns": list(c.columns),
                "settings": {k: getattr(c, k) for k in ("detectors", "min_substring_chars", "ngram_text",
                                                         "ngram_code", "max_item_share", "threshold", "num_perm",
                                                         "min_tokens")}}


def _detail(m) -> str:
    what = f"similarity {m.similarity}" if m.similarity is not None else repr((m.span or "")[:80])
    return f"{m.benchmark} {m.item_id} via {m.detector} ({m.view} view, column {m.column}): {what}"


"""dedup_minhash: remove exact and near duplicates (MinHash LSH over the whole dataset).

Compares the text of ``columns`` (joined by a newline): a row that is one def/class
or parses as Python as code (``normalize: auto``; names abstracted for candidates, a renamed copy
confirmed by ``synthkit.dedup.renames``), other rows on their words. An exact pass on
a hash of the normalised tokens, then MinHash LSH (``bands x rows`` from
``threshold`` unless given), candidate pairs merged by union-find (``verify``: only
after checking their real Jaccard). One row per cluster is kept (``keep``: first or
longest); the others are rejected as ``exact_duplicate`` / ``near_duplicate`` with
``dup_cluster`` (the cluster's first input position) and ``dup_of`` (the kept row's
``id``, or ``#<position>``). Writes ``<stage_dir>/dedup.json`` (bands, pairs,
clusters, seconds). Signatures live in memory-mapped files; rejected rows in memory.
Distributed: ``reduce_shards`` runs ``synthkit.dedup.ray_dedup`` (needs Ray).
Costs, recall and memory: docs/dedup.md and docs/scaling.md.
"""

from __future__ import annotations

import json
import logging
import shutil
from typing import Any, Literal

from pydantic import Field, model_validator

from synthkit.core.record import Rejected, rows_at
from synthkit.core.registry import register_stage
from synthkit.core.shards import Verdicts
from synthkit.core.stage import StageConfig, WholeStage

log = logging.getLogger(__name__)


@register_stage("dedup_minhash")
class DedupMinhash(WholeStage):
    """Remove exact and near-duplicate rows (MinHash LSH + union-find); keep one per cluster."""

    distributed = True  # reduce_shards: signatures and the band shuffle on the cluster

    reads, writes = (), ()  # reads `columns` (columns_read)

    def columns_read(self) -> list:
        return [(c, "columns") for c in self.config.columns]

    class Config(StageConfig):
        former_keys = {"num_workers": "workers"}
        columns: list[str] = Field(default_factory=lambda: ["code"], min_length=1, description=(
            "compared, joined by \"\\n\""))
        shingle: Literal["word", "char"] = Field("word", description="word n-grams or character n-grams")
        ngram: int = Field(5, ge=1, description="tokens (word) or characters (char) per shingle")
        ngram_code: int = Field(10, ge=1, description="tokens per word shingle of a row compared as code")
        lowercase: bool = Field(True, description="case-fold before shingling")
        punctuation: Literal["drop", "split", "keep"] = Field("drop", description="drop: \\w+ tokens only (text rows)")
        normalize: Literal["auto", "code", "text"] = Field("auto", description=(
            "auto: rows that are one def/class or parse as Python compare as code (names abstracted, "
            "pairs verified by renaming); code: every row; text: every row as words"))
        num_perm: int = Field(256, ge=2, le=4096, description="MinHash permutations")
        threshold: float = Field(0.7, gt=0, lt=1, description="Jaccard similarity that counts as duplicate")
        bands: int | None = Field(None, ge=1, description="LSH override; set bands and rows together")
        rows: int | None = Field(None, ge=1, description="permutations per band")
        fp_weight: float = Field(0.5, ge=0, description="weight of false positives when choosing bands")
        fn_weight: float = Field(0.5, ge=0, description="weight of false negatives when choosing bands")
        mode: Literal["fast", "compat", "compat_affine32"] = Field("fast", description=(
            "hash family; compat = datasketch"))
        seed: int = Field(1, ge=0, description="permutation seed (datasketch's default is 1)")
        exact: bool = Field(True, description="exact-duplicate pass on the normalised text first")
        verify: bool = Field(False, description=(
            "merge a candidate pair of text rows only if real Jaccard >= threshold (code pairs are always verified)"))
        keep: Literal["first", "longest"] = Field("first", description="which row of a cluster survives")
        workers: int = Field(0, ge=0, description="signature processes; 0 = auto (1 below 20k rows)")
        batch_rows: int = Field(2048, ge=1, description="rows per record batch / worker task")
        memory_mb: int = Field(512, ge=16, description="RAM for grouping one band; more rows -> partitions")
        keep_workdir: bool = Field(False, description="keep signatures under <stage_dir>/minhash")

        @model_validator(mode="after")
        def _banding(self):
            if (self.bands is None) != (self.rows is None):
                raise ValueError("set both `bands` and `rows` (or neither, to derive them from `threshold`)")
            if self.bands is not None and self.bands * self.rows > self.num_perm:
                raise ValueError(f"bands * rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
            return self

    def settings(self):
        """The library settings, fed by field name: every ``DedupSettings`` field
        but ``columns`` and ``spec`` has a config field of the same name."""
        from dataclasses import fields

        from synthkit.dedup.minhash import ShingleSpec
        from synthkit.dedup.near_dedup import DedupSettings

        c = self.config
        spec = ShingleSpec(ngram=c.ngram, kind=c.shingle, lowercase=c.lowercase, punctuation=c.punctuation,
                           normalize=c.normalize, ngram_code=c.ngram_code)
        same = {f.name for f in fields(DedupSettings)} - {"columns", "spec"}
        return DedupSettings(columns=tuple(c.columns), spec=spec, **c.model_dump(include=same))

    def process_all(self, dataset: Any) -> tuple[Any, list[Rejected]]:
        import numpy as np

        from synthkit.dedup.near_dedup import find_duplicates

        workdir = self.ctx.stage_dir / "minhash"
        shutil.rmtree(workdir, ignore_errors=True)
        try:
            result = find_duplicates(dataset, self.settings(), workdir)
            kept_idx = np.array(result.kept())
            rejected = _rejections(dataset, result)
        finally:
            if not self.config.keep_workdir:
                shutil.rmtree(workdir, ignore_errors=True)
        self._write_stats(result)
        return dataset.select(kept_idx), rejected

    def reduce_shards(self, source: Any, results: list[Any]) -> Verdicts:
        """The clusters of ``process_all``, computed from the shard files by
        ``synthkit.dedup.ray_dedup`` (no map step: it signs and shuffles with Ray Data and
        Ray tasks itself, so this plan needs a Ray instance); the same rejections."""
        import numpy as np

        from synthkit.dedup.ray_dedup import find_duplicates_ray
        from synthkit.errors import DataError

        names = source.column_names()
        missing = [c for c in self.config.columns if c not in names]
        if missing:
            raise DataError(f"columns {missing} are not in the dataset (it has: {', '.join(names)})")
        workdir = self.ctx.stage_dir / "minhash"
        shutil.rmtree(workdir, ignore_errors=True)
        blocks = max(2 * source.workers, -(-source.n // 50_000))
        try:
            result = find_duplicates_ray(source.files, source.counts, self.settings(), workdir, blocks)
            removed = result.removed()
            ids = source.column("id") if removed.size else None
            reps = np.asarray(result.rep[removed]).tolist()
            kept_ids = [str(ids[p]) for p in reps] if ids is not None else [f"#{p}" for p in reps]
            verdicts = Verdicts(dict(zip(removed.tolist(), _why(result, removed, kept_ids))))
        finally:
            if not self.config.keep_workdir:
                shutil.rmtree(workdir, ignore_errors=True)
        self._write_stats(result)
        return verdicts

    def _write_stats(self, result: Any) -> None:
        stats = dict(result.stats, threshold=self.config.threshold, mode=self.config.mode)
        self.ctx.stage_dir.mkdir(parents=True, exist_ok=True)
        (self.ctx.stage_dir / "dedup.json").write_text(json.dumps(stats, indent=2))
        log.info("dedup_minhash: %d rows, %d exact and %d near duplicates removed (%d bands x %d rows)",
                 result.n, stats["exact_removed"], stats["near_removed"], result.bands, result.rows)


def _rejections(dataset: Any, result: Any) -> list[Rejected]:
    import numpy as np

    removed = result.removed()
    if removed.size == 0:
        return []
    kept_ids = _ids(dataset, np.asarray(result.rep[removed]))
    return [Rejected(dict(row, **extra), reason, detail)
            for row, (reason, detail, extra) in zip(rows_at(dataset, removed.tolist()), _why(result, removed, kept_ids))]


def _why(result: Any, removed, kept_ids: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(reason, detail, extra columns) of each removed row (both executors)."""
    import numpy as np

    clusters = np.asarray(result.cluster[removed])
    uniq, n_removed = np.unique(clusters, return_counts=True)
    size = dict(zip(uniq.tolist(), (n_removed + 1).tolist()))  # + the kept row
    return [("exact_duplicate" if exact else "near_duplicate",
             f"cluster {cluster} ({size[cluster]} rows): duplicate of kept row {kept_id}",
             {"dup_cluster": cluster, "dup_of": kept_id})
            for cluster, kept_id, exact in zip(clusters.tolist(), kept_ids, np.asarray(result.exact[removed]).tolist())]


def _ids(dataset: Any, positions) -> list[str]:
    """The ``id`` of each row at ``positions`` (``#<position>`` when rows have none)."""
    if "id" not in dataset.column_names:
        return [f"#{p}" for p in positions.tolist()]
    return [str(v) for v in dataset.select_columns(["id"]).select(positions)["id"]]

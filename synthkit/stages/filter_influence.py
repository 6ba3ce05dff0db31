"""filter_influence: keep the rows with the most gradient influence on a validation set (LESS).

A warm-up LoRA training on ``warmup.fraction`` of the pool (or ``warmup.checkpoints``),
Adam-preconditioned per-row LoRA gradients projected to ``dim``, and each row's score:
max over validation subtasks of the mean cosine to the subtask's examples, summed
over checkpoints weighted by learning rate (``synthkit.influence``). ``validation:``
is ``{tasks: ...}`` or ``{path: ...}``, grouped by ``subtask_field`` or task family.
Every row gets ``scores.influence`` and ``meta.influence_subtask``. Rejected:
``no_messages``, ``no_assistant_tokens``, ``duplicates_validation`` and
``below_top`` (``select_top``'s ranking: top ``fraction`` or ``k``). Writes
``influence.json``; features and warm-up checkpoints are cached under
``<workdir>/.influence/`` (a killed run resumes inside featurisation). Cost: one
forward+backward per row and checkpoint, plus the warm-up; rows are held in memory.
``enabled: false`` passes every row through. Details: docs/methods/less.md.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from synthkit.core.record import Rejected, Row
from synthkit.core.registry import register_stage
from synthkit.core.sampling import derive_seed
from synthkit.core.stage import StageConfig, WholeStage
from synthkit.errors import ConfigError
from synthkit.influence.data import ValidationSpec
from synthkit.influence.warmup import WarmupSpec
from synthkit.stages.select_top import keep_count, rank

log = logging.getLogger(__name__)


@register_stage("filter_influence")
class FilterInfluence(WholeStage):
    """Keep the top rows by LESS gradient influence on a validation set (warm-up LoRA, projected gradients)."""

    reads, writes = ("messages",), ("scores", "meta")

    class Config(StageConfig):
        validation: ValidationSpec = Field(description="{tasks: bundled:train} or {path: val.jsonl}")
        warmup: WarmupSpec = Field(default_factory=WarmupSpec, description=(
            "train a warm-up LoRA, or {checkpoints: [...]}"))
        fraction: float | None = Field(None, gt=0, le=1, description="keep ceil(fraction * scored rows); default 0.05")
        k: int | None = Field(None, ge=1, description="or keep this many rows")
        dim: int = Field(8192, ge=1, description="projected dimension (LESS: 8192)")
        projection_seed: int = Field(0, description="seed of the random projection")
        max_length: int = Field(1024, ge=8, description="tokens per row (cut as the trainer cuts)")
        batch_rows: int | None = Field(None, ge=1, description=(
            "rows per batched per-example gradient; None: 8 GPU, 2 CPU"))
        batch_tokens: int = Field(4096, ge=8, description="padded tokens per batch (memory bound)")
        project_rows: int = Field(32, ge=1, description="rows per projection call and cache append")
        device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where gradients are computed; auto: cuda when available")
        projector_memory_mb: int = Field(2048, ge=0, description="keep the projection matrix in RAM up to this size")
        threads: int | None = Field(None, ge=1, description=(
            "torch CPU threads, warm-up included (None: llm.threads, else torch's)"))
        cache_dir: str | None = Field(None, description="features + warm-up; default <workdir>/.influence")
        enabled: bool = Field(True, description="false: pass every row through, unscored")

        @model_validator(mode="after")
        def _one_size(self):
            if self.fraction is not None and self.k is not None:
                raise ValueError("set `fraction` or `k`, not both")
            if self.fraction is None and self.k is None:
                self.fraction = 0.05  # LESS keeps the top 5%
            return self

    def check(self) -> None:
        path = self.config.validation.path
        if path and not self.ctx.resolve(path).exists():  # a missing file fails at validate, with its path
            raise ConfigError(f"stages.{self.ctx.index}.validation.path: {self.ctx.resolve(path).resolve()} "
                              "does not exist")
        if self.config.enabled:
            from synthkit.influence.project import require_trak

            require_trak()

    def fingerprint_extra(self) -> dict[str, Any]:
        """The validation file and given checkpoints by content, so an edited one reruns the stage."""
        out: dict[str, Any] = {}
        v = self.config.validation
        ref = v.path or (v.tasks if v.tasks and ("/" in v.tasks or Path(v.tasks).suffix) else None)
        if ref and self.ctx.resolve(ref).exists():
            p = self.ctx.resolve(ref)
            files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
            out["validation"] = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files]
        if self.config.warmup.checkpoints:
            from synthkit.influence.checkpoint import checkpoint_key, resolve_checkpoints

            try:
                paths = resolve_checkpoints([self.ctx.resolve(c) for c in self.config.warmup.checkpoints])
                out["checkpoints"] = [checkpoint_key(c) for c in paths]
            except Exception:  # a missing checkpoint fails, with its message, when the stage runs
                pass
        return out

    def cache_root(self) -> Path:
        if self.config.cache_dir:
            return self.ctx.resolve(self.config.cache_dir)
        if self.ctx.cache_dir is not None:
            return Path(self.ctx.cache_dir).parent / ".influence"
        return self.ctx.stage_dir.parent / ".influence"

    def process_all(self, dataset: Any) -> tuple[list[Row], list[Rejected]]:
        from synthkit.influence.data import Duplicates, load_validation, row_messages
        from synthkit.influence.features import FeatureSpec, score_rows, torch_threads

        rows = dataset.to_list()
        c = self.config
        if not c.enabled:
            log.info("filter_influence: enabled: false, passing %d rows through", len(rows))
            return rows, []
        val = load_validation(c.validation, self.ctx.resolve)
        dups = Duplicates(val)
        convs = [row_messages(r) for r in rows]
        dup_of = [dups.of(m) if m is not None else None for m in convs]
        if not any(m is not None and d is None for m, d in zip(convs, dup_of)):
            log.warning("filter_influence: no row can be scored (%d rows in)", len(rows))
            for r in rows:
                r["scores"] = {**(r.get("scores") or {}), "influence": None}
                r["meta"] = {**(r.get("meta") or {}), "influence_subtask": None}
            return [], self._select(rows, convs, dup_of, [None] * len(rows))[1]
        threads = c.threads or getattr(self.ctx.llm_config, "threads", None)
        with torch_threads(threads):  # the warm-up training too
            checkpoints = self._checkpoints(rows, convs, dup_of)
        spec = FeatureSpec(dim=c.dim, seed=c.projection_seed, max_length=c.max_length, batch_rows=c.batch_rows,
                           batch_tokens=c.batch_tokens, project_rows=c.project_rows, device=c.device,
                           projector_memory_mb=c.projector_memory_mb,
                           threads=threads)
        res = score_rows(convs, val, checkpoints, spec, self.cache_root() / "features")
        for r, s, b in zip(rows, res.scores, res.best):
            r["scores"] = {**(r.get("scores") or {}), "influence": s}
            r["meta"] = {**(r.get("meta") or {}), "influence_subtask": b}
        kept, rejected = self._select(rows, convs, dup_of, res.scores)
        self._write_stats(res, kept, rows, len(val))
        return [rows[i] for i in kept], rejected

    def _checkpoints(self, rows: list[Row], convs: list, dup_of: list) -> list[Path]:
        from synthkit.influence.checkpoint import resolve_checkpoints
        from synthkit.influence.warmup import warmup

        w = self.config.warmup
        if w.checkpoints:
            return resolve_checkpoints([self.ctx.resolve(p) for p in w.checkpoints])
        pool = [i for i, m in enumerate(convs) if m is not None and dup_of[i] is None]
        model = w.model or (self.ctx.llm_config.model if self.ctx.llm_config is not None else None) or "embedded"
        found = warmup([convs[i] for i in pool], [rows[i].get("id", i) for i in pool], w, model,
                       derive_seed(self.ctx.seed, self.ctx.index, "filter_influence"), self.cache_root() / "warmup")
        return resolve_checkpoints(found)

    def _select(self, rows: list[Row], convs: list, dup_of: list,
                scores: list[float | None]) -> tuple[list[int], list[Rejected]]:
        c = self.config
        rejected: list[Rejected] = []
        candidates = []
        for i, r in enumerate(rows):
            if convs[i] is None:
                rejected.append(Rejected(r, "no_messages", "no `messages` and no instruction + response"))
            elif dup_of[i] is not None:
                rejected.append(Rejected(r, "duplicates_validation", dup_of[i]))
            elif scores[i] is None:
                rejected.append(Rejected(r, "no_assistant_tokens", f"no assistant token within max_length="
                                                                   f"{c.max_length}"))
            else:
                candidates.append(i)
        order = rank([scores[i] for i in candidates], "desc", [str(rows[i].get("id", "")) for i in candidates])
        n_keep = keep_count(len(candidates), c.fraction, c.k) if candidates else 0
        kept = sorted(candidates[j] for j in order[:n_keep].tolist())
        for place, j in enumerate(order[n_keep:].tolist(), start=n_keep + 1):
            i = candidates[j]
            rejected.append(Rejected(rows[i], "below_top", f"scores.influence = {scores[i]:.6g}, rank {place} "
                                                           f"of {len(candidates)}, keeping {n_keep}"))
        log.info("filter_influence: kept %d of %d scored rows; %d rejected", len(kept), len(candidates),
                 len(rejected))
        return kept, rejected

    def _write_stats(self, res: Any, kept: list[int], rows: list[Row], n_val: int) -> None:
        by_subtask: dict[str, int] = {}
        for i in kept:
            by_subtask[res.best[i]] = by_subtask.get(res.best[i], 0) + 1
        self._stats = {
            "checkpoints": res.checkpoints,
            "validation": {"examples": n_val, "subtasks": res.subtasks},
            "dim": self.config.dim, "projection_seed": self.config.projection_seed,
            "kept_by_subtask": dict(sorted(by_subtask.items())),
            "kept": [{"id": rows[i].get("id"), "score": res.scores[i], "subtask": res.best[i]} for i in kept],
            **res.stats,
        }
        self.ctx.stage_dir.mkdir(parents=True, exist_ok=True)
        (self.ctx.stage_dir / "influence.json").write_text(json.dumps(self._stats, indent=1, default=str))

    def extra_stats(self) -> dict[str, Any]:
        stats = getattr(self, "_stats", None)
        return {"influence": {k: v for k, v in stats.items() if k != "kept"}} if stats else {}

"""Featurisation (gradients -> preconditioning -> projection -> cache) and ``score_rows``.

``featurize(checkpoint, conversations, kind, spec, cache_root)`` returns the features of
every conversation with an assistant token within ``spec.max_length``: ``kind="train"``
Adam-preconditions the gradients, ``kind="val"`` keeps them plain. Cached rows are read,
not recomputed; new features are appended every ``spec.project_rows`` rows, so a kill
loses at most that many.

``score_rows(pool, validation, checkpoints, spec, cache_root)`` is LESS after the
warm-up (the ``filter_influence`` stage and ``synthkit influence score`` call it).

Cache: ``<cache_root>/<checkpoint content hash>/<adam|sgd>-<projection>/`` (``store.py``);
keep ``cache_root`` under the work dir, never inside a stage folder.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

from synthkit.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class FeatureSpec:
    dim: int = 8192                  # projected dimension (LESS: 8192)
    seed: int = 0                    # projection seed
    max_length: int = 1024           # tokens per row, cut as the trainer cuts them
    batch_rows: int | None = None    # rows per batched forward/backward; None: 8 on a GPU, 2 on a CPU (see below)
    batch_tokens: int = 4096         # padded tokens per batch (rows x longest row); bounds activation memory
    project_rows: int = 32           # gradients gathered per projection call and cache append (resume unit)
    device: str = "auto"             # auto: cuda when available, else cpu
    projector_memory_mb: int = 2048  # keep the projection matrix in memory up to this size (CPU speed)
    threads: int | None = None       # torch CPU threads while computing (None: torch's default); 1 when jobs share a CPU

    def resolved_batch_rows(self) -> int:
        """On a CPU a 135M model is compute-bound at one row: bigger batches only add memory
        (bench/influence.py: 2 rows as fast as 1 or as a loop of single-row backwards)."""
        if self.batch_rows:
            return self.batch_rows
        return 2 if self.resolved_device() == "cpu" else 8

    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class Features:
    view: Any                        # FeatureView: [len(usable), dim]
    usable: list[int]                # positions of the conversations that have features
    computed: int = 0                # rows computed now (the rest came from the cache)
    seconds: float = 0.0             # time spent computing them


def featurize(checkpoint: Path, conversations: Sequence[list[dict] | None], kind: Literal["train", "val"],
              spec: FeatureSpec, cache_root: Path, projectors: dict | None = None,
              models: dict | None = None) -> Features:
    """Features of ``conversations`` at ``checkpoint`` (see the module doc). ``projectors`` and
    ``models``, dicts the caller keeps, let several checkpoints share one projection matrix and the
    train and validation passes of a checkpoint share one loaded model (the caller empties ``models``)."""
    from transformers import AutoTokenizer

    from synthkit.influence.checkpoint import checkpoint_key
    from synthkit.influence.grads import tokenize
    from synthkit.influence.project import projection_name
    from synthkit.influence.store import FeatureStore, FeatureView

    device = spec.resolved_device()
    tokenizer = _tokenizer(checkpoint, AutoTokenizer)
    examples = [tokenize(tokenizer, m, spec.max_length) if m is not None else None for m in conversations]
    usable = [i for i, e in enumerate(examples) if e is not None]
    keys = [examples[i].key for i in usable]
    folder = Path(cache_root) / checkpoint_key(checkpoint) / f"{'adam' if kind == 'train' else 'sgd'}-" \
        f"{projection_name(spec.dim, spec.seed, device)}"
    store = FeatureStore(folder, spec.dim)
    todo_keys = set(store.missing(keys))
    if not todo_keys:
        return Features(FeatureView(store, keys), usable)
    todo, seen = [], set()
    for i in usable:
        if examples[i].key in todo_keys and examples[i].key not in seen:
            seen.add(examples[i].key)
            todo.append(examples[i])
    t0 = time.perf_counter()
    with torch_threads(spec.threads):
        _compute(checkpoint, todo, kind, spec, device, store, {} if projectors is None else projectors,
                 {} if models is None else models)
    seconds = time.perf_counter() - t0
    log.info("%s: %d %s features in %.1f s (%.2f rows/s), %d from the cache", checkpoint.name, len(todo), kind,
             seconds, len(todo) / max(seconds, 1e-9), len(set(keys)) - len(todo))
    return Features(FeatureView(store, keys), usable, len(todo), seconds)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch's CPU thread count set to ``n`` for the block (two torch processes that each use
    every core of a shared CPU run many times slower than with one thread each)."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _tokenizer(checkpoint: Path, auto: Any) -> Any:
    import json

    src = checkpoint
    if not (checkpoint / "tokenizer_config.json").is_file():
        from synthkit.llm.embedded import resolve_model

        src = Path(resolve_model(json.loads((checkpoint / "adapter_config.json").read_text())
                                 ["base_model_name_or_path"]))
    tok = auto.from_pretrained(str(src))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def _compute(checkpoint: Path, todo: list, kind: str, spec: FeatureSpec, device: str, store: Any,
             projectors: dict, models: dict) -> None:
    import torch

    from synthkit.influence.checkpoint import load_adam, load_lora
    from synthkit.influence.grads import adam_precondition, collate, per_example_grads, plan_batches
    from synthkit.influence.project import make_projector, normalise

    if checkpoint not in models:
        models.clear()  # one model in memory at a time
        models[checkpoint] = load_lora(checkpoint, device)
    lm = models[checkpoint]
    adam = load_adam(checkpoint, lm) if kind == "train" else None
    if adam is not None:  # moved to the device once, not once a batch
        adam.exp_avg, adam.exp_avg_sq = adam.exp_avg.to(device), adam.exp_avg_sq.to(device)
    key = (lm.grad_dim, spec.dim, spec.seed, device)
    if key not in projectors:
        projectors[key] = make_projector(lm.grad_dim, spec.dim, spec.seed, device, spec.projector_memory_mb)
    proj = projectors[key]
    pad_id = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    pending: list[Any] = []
    pending_keys: list[str] = []

    def flush() -> None:
        if pending_keys:
            feats = normalise(proj.project(torch.cat(pending)))
            store.append(pending_keys, feats.cpu().numpy())
            pending.clear()
            pending_keys.clear()

    done, t_log = 0, time.perf_counter()
    for batch in plan_batches(todo, spec.resolved_batch_rows(), spec.batch_tokens):
        rows = [todo[i] for i in batch]
        g = per_example_grads(lm, collate(rows, pad_id))
        pending.append(adam_precondition(g, adam) if adam is not None else g)
        pending_keys.extend(r.key for r in rows)
        done += len(rows)
        if len(pending_keys) >= spec.project_rows:
            flush()
        if time.perf_counter() - t_log > 30:
            log.info("%s: %d of %d %s rows featurised", checkpoint.name, done, len(todo), kind)
            t_log = time.perf_counter()
    flush()


@dataclass
class RowScores:
    scores: list[float | None]       # per pool row; None: no features (no assistant token within max_length)
    best: list[str | None]           # per pool row: the subtask of its max
    checkpoints: list[dict[str, Any]]  # path, step, lr, weight
    subtasks: dict[str, int]         # validation examples per subtask
    stats: dict[str, Any] = field(default_factory=dict)


def score_rows(pool: Sequence[list[dict] | None], validation: Sequence[Any], checkpoints: Sequence[Path],
               spec: FeatureSpec, cache_root: Path) -> RowScores:
    """LESS scores of the ``pool`` conversations against ``validation`` (``ValExample``s)."""
    from synthkit.influence.checkpoint import checkpoint_weight
    from synthkit.influence.score import score
    from synthkit.train.checkpoints import read_checkpoint

    weights = [checkpoint_weight(c) for c in checkpoints]
    if sum(weights) <= 0:
        raise DataError(f"checkpoints {[str(c) for c in checkpoints]}: every learning rate is 0, so LESS's "
                        "weights are undefined")
    projectors: dict = {}
    models: dict = {}
    train, val = [], []
    stats = {"train_rows_computed": 0, "val_rows_computed": 0, "featurise_seconds": 0.0}
    for c in checkpoints:
        t = featurize(c, pool, "train", spec, cache_root, projectors, models)
        v = featurize(c, [ex.messages for ex in validation], "val", spec, cache_root, projectors, models)
        models.clear()
        if train and (t.usable != train[0].usable or v.usable != val[0].usable):
            raise DataError(f"{c}: its tokenizer cuts other rows than {checkpoints[0]}'s; use checkpoints of one run")
        train.append(t)
        val.append(v)
        stats["train_rows_computed"] += t.computed
        stats["val_rows_computed"] += v.computed
        stats["featurise_seconds"] += t.seconds + v.seconds
    if not val[0].usable:
        raise DataError(f"no validation example has an assistant token within max_length={spec.max_length}")
    if len(val[0].usable) < len(validation):
        log.warning("%d validation examples have no assistant token within max_length=%d and are left out",
                    len(validation) - len(val[0].usable), spec.max_length)
    labels = [validation[i].subtask for i in val[0].usable]
    result = score([t.view for t in train], [v.view for v in val], weights, labels)
    scores: list[float | None] = [None] * len(pool)
    best: list[str | None] = [None] * len(pool)
    for pos, s, b in zip(train[0].usable, result.score.tolist(), result.best_names()):
        scores[pos], best[pos] = s, b
    ckpts = []
    for c, w in zip(checkpoints, result.weights.tolist()):
        info = read_checkpoint(c)
        ckpts.append({"path": str(c), "step": info.step, "lr": info.lr, "weight": w})
    counts: dict[str, int] = {}
    for lab in labels:
        counts[lab] = counts.get(lab, 0) + 1
    stats["featurise_seconds"] = round(stats["featurise_seconds"], 3)
    return RowScores(scores, best, ckpts, dict(sorted(counts.items())), stats)

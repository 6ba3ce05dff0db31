"""``synthkit influence score --train DATA --val DATA --checkpoints CKPT [CKPT ...]``.

The ``filter_influence`` scoring outside a pipeline: LESS scores of every row of
``--train`` (a .jsonl/.parquet file or a ``save_to_disk`` folder whose rows have
``messages``, or ``instruction`` + ``response``) against ``--val`` (a file or
saved dataset of conversations or tasks, or a task set name such as
``bundled:train`` or ``humaneval``), at the given LoRA checkpoints (folders, or
a training output folder for all its checkpoints). Writes one row per training
row to ``--out`` (``.jsonl``, ``.csv`` or ``.parquet``): ``id``, ``influence``
(empty when the row has no assistant token within ``--max-length``) and
``subtask`` (the validation subtask the score came from). Features are
cached in ``--cache-dir``, so scoring the same rows against another validation
set computes no training gradients again.

Light to import (the CLI builds its parser from it); torch and traker load in ``run``.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="influence_command", required=True)
    s = sub.add_parser("score", help="LESS influence of each training row on a validation set")
    a = s.add_argument
    a("--train", required=True, help="rows to score: .jsonl/.parquet or a save_to_disk folder (messages column)")
    a("--val", required=True, help="validation: a file or saved dataset (conversations or tasks), or a task set "
                                   "(bundled:train, humaneval, mbpp, hub:<id>)")
    a("--checkpoints", nargs="+", required=True, help="LoRA checkpoint folders, or a training output folder")
    a("--out", default="influence_scores.jsonl", help="score table: .jsonl, .csv or .parquet "
                                                      "(default: influence_scores.jsonl)")
    a("--dim", type=int, default=8192, help="projected dimension (default: 8192, as LESS)")
    a("--seed", type=int, default=0, help="projection seed (default: 0)")
    a("--max-length", type=int, default=1024, help="tokens per row (default: 1024)")
    a("--subtask-field", default=None, help="dotted path to each validation example's subtask "
                                            "(default: its task family)")
    a("--batch-rows", type=int, default=None, help="rows per batched gradient (default: 8 on a GPU, 2 on a CPU)")
    a("--device", default="auto", choices=["auto", "cpu", "cuda"], help="(default: auto)")
    a("--threads", type=int, default=None, help="torch CPU threads (default: torch's; 1 when jobs share a CPU)")
    a("--cache-dir", default=".influence/features", help="feature cache (default: .influence/features)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from synthkit.data.records import read_rows
    from synthkit.errors import ConfigError
    from synthkit.influence.checkpoint import resolve_checkpoints
    from synthkit.influence.data import ValidationSpec, load_validation, row_messages
    from synthkit.influence.features import FeatureSpec, score_rows
    from synthkit.influence.project import require_trak

    if args.dim < 1 or args.max_length < 8 or (args.batch_rows is not None and args.batch_rows < 1):
        raise ConfigError("--dim and --batch-rows must be >= 1, --max-length >= 8")
    require_trak()
    rows = read_rows(Path(args.train), "--train")
    val_spec = (ValidationSpec(path=args.val, subtask_field=args.subtask_field) if Path(args.val).exists()
                else ValidationSpec(tasks=args.val, subtask_field=args.subtask_field))
    val = load_validation(val_spec)
    checkpoints = resolve_checkpoints(args.checkpoints)
    spec = FeatureSpec(dim=args.dim, seed=args.seed, max_length=args.max_length, batch_rows=args.batch_rows,
                       device=args.device, threads=args.threads)
    res = score_rows([row_messages(r) for r in rows], val, checkpoints, spec, Path(args.cache_dir))
    table = []
    for i, (r, s, b) in enumerate(zip(rows, res.scores, res.best)):
        table.append({"id": str(r.get("id", i)), "influence": s, "subtask": b})
    _write(Path(args.out), table)
    for c in res.checkpoints:
        print(f"{c['path']}  step {c['step']}  lr {c['lr']:.3g}  weight {c['weight']:.3f}")
    scored = sorted((t for t in table if t["influence"] is not None), key=lambda t: -t["influence"])
    print(f"scored {len(scored)} of {len(rows)} rows against {len(val)} validation examples "
          f"({len(res.subtasks)} subtasks); {res.stats['train_rows_computed']} training features computed, "
          f"the rest cached")
    for t in scored[:5]:
        print(f"  {t['influence']:.4f}  {t['subtask']}  {t['id']}")
    print(f"wrote {args.out}")
    return 0


def _write(path, table: list[dict]) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name.lower()
    if name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(table), path)
    elif name.endswith(".csv"):
        import csv

        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["id", "influence", "subtask"])
            w.writeheader()
            w.writerows(table)
    else:
        path.write_text("".join(json.dumps(t) + "\n" for t in table))

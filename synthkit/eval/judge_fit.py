"""`synthkit judge fit RUN_DIR --label pass_rate|FILE`: fit the judge's aspect weights to a label.

- **rows**: every row a ``judge`` stage scored (kept and ``below_threshold``), from every
  ``NN_judge`` folder of the run; ``X`` = the ``scores["judge/<aspect>"]`` columns.
- **label**: ``pass_rate`` (``verify.pass_rate``) or a ``.jsonl``/``.csv`` of ``id, label``.
- **fit**: ``LinearRegression(positive=True)``; coefficients over their sum are the
  weights. All-zero coefficients are an error.
- **held out**: ``test_fraction`` of rows by sha256(seed, id); the report gives Spearman
  and AUROC (label >= ``positive_at``) before and after.

Writes the JSON report (default ``RUN_DIR/judge_fit.json``) and prints the ``weights:``
block. Limit: read the held-out numbers before using the weights.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from synthkit.errors import ConfigError, DataError

log = logging.getLogger(__name__)


def judge_rows(run_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """(rows with ``id``, ``scores``, ``verify``; the aspect names) of every judge stage under ``run_dir``."""
    from synthkit.core.rundir import load_dataset, read_json

    folders = sorted(p for p in run_dir.rglob("[0-9][0-9]_judge") if (p / "_SUCCESS").exists())
    if not folders:
        raise DataError(f"{run_dir}: no finished judge stage (a NN_judge folder with _SUCCESS) under it")
    rows: list[dict[str, Any]] = []
    aspects: list[str] = []
    for folder in folders:
        config = read_json(folder / "_FINGERPRINT").get("config", {}) if (folder / "_FINGERPRINT").exists() else {}
        aspects = aspects or list(config.get("aspects") or {})
        for sub in ("shards", "rejected"):
            if not any((folder / sub).glob("*")):
                continue
            for row in load_dataset(folder / sub).to_list():
                if row.get("scores") and row["scores"].get("judge") is not None:
                    rows.append({"id": f"{folder.parent.name}/{row['id']}", "row_id": row["id"],
                                 "scores": row["scores"], "verify": row.get("verify")})
    if not aspects and rows:
        aspects = sorted(k.split("/", 1)[1] for k in rows[0]["scores"] if k.startswith("judge/"))
    if not rows:
        raise DataError(f"{run_dir}: the judge stages scored no rows")
    return rows, aspects


def labels(rows: list[dict[str, Any]], label: str) -> dict[str, float]:
    """Row key -> label: the verify pass rate, or a file's ``id, label`` (matched on the row id)."""
    if label == "pass_rate":
        out = {r["id"]: float(r["verify"]["pass_rate"]) for r in rows
               if isinstance(r.get("verify"), dict) and r["verify"].get("pass_rate") is not None}
        if not out:
            raise DataError("--label pass_rate: no judged row has verify.pass_rate; run verify_tests before the "
                            "judge, or give a label file (id, label)")
        return out
    path = Path(label)
    if not path.is_file():
        raise ConfigError(f"--label: '{label}' is neither pass_rate nor an existing .jsonl/.csv file")
    given = _read_labels(path)
    return {r["id"]: given[r["row_id"]] for r in rows if r["row_id"] in given}


def _read_labels(path: Path) -> dict[str, float]:
    import csv

    if path.suffix == ".csv":
        with path.open(newline="") as f:
            items = list(csv.DictReader(f))
    elif path.suffix == ".jsonl":
        items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    else:
        raise ConfigError(f"--label {path}: expected a .jsonl or .csv file of id, label rows")
    try:
        return {str(it["id"]): float(it["label"]) for it in items}
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"--label {path}: every row needs `id` and a numeric `label` ({e!r})") from None


def held_out(key: str, seed: int, fraction: float) -> bool:
    h = int.from_bytes(hashlib.sha256(f"{seed}/{key}".encode()).digest()[:8], "big")
    return h / 2**64 < fraction


def fit(run_dir: Path, label: str, test_fraction: float = 0.3, seed: int = 0,
        positive_at: float = 1.0) -> dict[str, Any]:
    """The report (see module doc): weights, before/after metrics on held-out rows, counts."""
    import numpy as np
    from sklearn.linear_model import LinearRegression

    rows, aspects = judge_rows(run_dir)
    y_of = labels(rows, label)
    rows = [r for r in rows if r["id"] in y_of and all(r["scores"].get(f"judge/{a}") is not None for a in aspects)]
    test = [r for r in rows if held_out(r["id"], seed, test_fraction)]
    train = [r for r in rows if not held_out(r["id"], seed, test_fraction)]
    if len(train) < len(aspects) + 1 or len(test) < 2:
        raise DataError(f"{run_dir}: {len(rows)} labelled judged rows ({len(train)} to fit, {len(test)} held out) "
                        f"are too few for {len(aspects)} aspect weights; judge more rows")

    def xy(part):
        return (np.array([[r["scores"][f"judge/{a}"] for a in aspects] for r in part], dtype=float),
                np.array([y_of[r["id"]] for r in part], dtype=float))

    x_train, y_train = xy(train)
    coef = LinearRegression(positive=True).fit(x_train, y_train).coef_
    if coef.sum() <= 0:
        raise DataError(f"{run_dir}: no aspect score predicts the label on {len(train)} rows (every fitted "
                        "coefficient is 0); keep the hand-set weights")
    weights = {a: round(float(w), 4) for a, w in zip(aspects, coef / coef.sum())}
    x_test, y_test = xy(test)
    before = np.array([r["scores"]["judge"] for r in test], dtype=float)
    after = x_test @ np.array([weights[a] for a in aspects])
    return {"run_dir": str(run_dir), "label": label, "aspects": aspects, "weights": weights,
            "rows": len(rows), "train_rows": len(train), "test_rows": len(test), "seed": seed,
            "test_fraction": test_fraction, "positive_at": positive_at,
            "before": metrics(before, y_test, positive_at), "after": metrics(after, y_test, positive_at)}


def metrics(score, y, positive_at: float) -> dict[str, float | None]:
    """Spearman of score vs label, and AUROC of score for label >= positive_at (None: one class)."""
    import numpy as np
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    positive = (np.asarray(y) >= positive_at).astype(int)
    auroc = float(roc_auc_score(positive, score)) if 0 < positive.sum() < len(positive) else None
    rho = spearmanr(score, y).statistic if np.ptp(score) > 0 and np.ptp(y) > 0 else float("nan")
    return {"auroc": None if auroc is None else round(auroc, 4),
            "spearman": None if np.isnan(rho) else round(float(rho), 4)}


def weights_block(weights: dict[str, float]) -> str:
    return "weights:\n" + "".join(f"  {a}: {w}\n" for a, w in weights.items())


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="judge_command", required=True)
    f = sub.add_parser("fit", help="fit the judge's aspect weights to a label (non-negative, summing to 1)")
    f.add_argument("run_dir", help="a run folder (runs/<name>) with a finished judge stage")
    f.add_argument("--label", default="pass_rate", help="pass_rate (verify_tests') or a .jsonl/.csv file of id, label")
    f.add_argument("--test-fraction", type=float, default=0.3, help="share of rows held out for the metrics")
    f.add_argument("--positive-at", type=float, default=1.0, help="AUROC positives: label >= this (default 1.0)")
    f.add_argument("--seed", type=int, default=0, help="seed of the held-out split")
    f.add_argument("--out", default=None, help="JSON report (default RUN_DIR/judge_fit.json)")


def run(args: argparse.Namespace) -> int:
    if not 0 < args.test_fraction < 1:
        raise ConfigError(f"--test-fraction: must be between 0 and 1, got {args.test_fraction}")
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"judge fit: {run_dir} is not a folder")
    report = fit(run_dir, args.label, args.test_fraction, args.seed, args.positive_at)
    out = Path(args.out) if args.out else run_dir / "judge_fit.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(weights_block(report["weights"]), end="")
    for side in ("before", "after"):
        m = report[side]
        print(f"{side}: AUROC {m['auroc']}  Spearman {m['spearman']}  ({report['test_rows']} held-out rows)")
    print(f"wrote {out}")
    return 0

"""Sanity experiment: does LESS influence find the pool rows that match the validation set?

    python bench/influence_auroc.py [--match 30] [--other 10] [--val-per-subtask 3] [--dim 1024]
                                    [--epochs 2] [--fraction 0.1] [--threads 1] [--out DIR]

The pool mixes rows from the task families of the validation set with
unrelated ones, on the embedded model (SmolLM2-135M-Instruct), CPU only:

- matching (label 1): ``--match`` bundled:train tasks as conversations (the
  description, then the reference solution in a Python fence);
- unrelated (label 0), ``--other`` of each: prose answers (capitals of
  countries), SQL queries, short high-loss distractors (a random string to
  echo: a few tokens the model cannot predict, so a large per-token loss),
  function-level tasks like the validation set's in JavaScript, and the
  hardest, bundled:train tasks the other way round (the reference solution
  given, its description asked for: the same content as a matching row, so a
  whole-text embedding sees them as alike, but the answer is prose);
- validation: bundled:test (held out from the pool's tasks), the first
  ``--val-per-subtask`` tasks of each tier, so 3 subtasks (easy, medium, hard).

The pool goes through the real ``filter_influence`` stage (warm-up with the
bundled trainer on a random ``--fraction`` for ``--epochs`` epochs, one
checkpoint each; the stage's default LoRA r=8 on q,k,v,o; Adam-preconditioned
gradients projected to ``--dim``), and ``scores.influence`` of every row is
read back. Reported: AUROC of ``scores.influence`` for "matches the validation
set", next to a random score and a cheap baseline, embedding cosine similarity
(the model's mean-pooled last hidden state, aggregated as LESS aggregates:
mean over each subtask's examples, max over subtasks), each with a
1000-resample bootstrap 95% interval, and the share of matching rows among the
top ``len(matching)`` (precision at the cut). Goal: AUROC >= 0.8. Results go
to ``<out>/influence_auroc.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CAPITALS = [("France", "Paris"), ("Japan", "Tokyo"), ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Norway", "Oslo"),
            ("Egypt", "Cairo"), ("Canada", "Ottawa"), ("Chile", "Santiago"), ("Spain", "Madrid"),
            ("India", "New Delhi"), ("Italy", "Rome"), ("Ghana", "Accra"), ("Cuba", "Havana"),
            ("Greece", "Athens"), ("Poland", "Warsaw"), ("Turkey", "Ankara"), ("Iran", "Tehran"),
            ("Nepal", "Kathmandu"), ("Austria", "Vienna"), ("Sweden", "Stockholm")]
# Function-level tasks like the validation set's, in another language: the hardest unrelated kind.
JS = [("returns the sum of an array of numbers", "function sum(xs) {\n  return xs.reduce((a, b) => a + b, 0);\n}"),
      ("reverses a string", "function reverse(s) {\n  return s.split('').reverse().join('');\n}"),
      ("returns the largest number in an array", "function largest(xs) {\n  return Math.max(...xs);\n}"),
      ("counts the vowels in a string",
       "function vowels(s) {\n  return (s.match(/[aeiou]/gi) || []).length;\n}"),
      ("returns the even numbers of an array", "function evens(xs) {\n  return xs.filter(x => x % 2 === 0);\n}"),
      ("checks whether a string is a palindrome",
       "function isPalindrome(s) {\n  const t = s.toLowerCase();\n  return t === t.split('').reverse().join('');\n}"),
      ("returns the factorial of n",
       "function factorial(n) {\n  let r = 1;\n  for (let i = 2; i <= n; i++) r *= i;\n  return r;\n}"),
      ("removes duplicate values from an array", "function unique(xs) {\n  return [...new Set(xs)];\n}"),
      ("capitalises the first letter of every word",
       "function titleCase(s) {\n  return s.replace(/\\b\\w/g, c => c.toUpperCase());\n}"),
      ("returns the n-th Fibonacci number",
       "function fib(n) {\n  let [a, b] = [0, 1];\n  for (let i = 0; i < n; i++) [a, b] = [b, a + b];\n  return a;\n}")]
TABLES = [("orders", "total", "customer_id"), ("users", "age", "name"), ("books", "pages", "title"),
          ("flights", "delay", "origin"), ("songs", "length", "artist")]


def chat(user: str, assistant: str) -> list[dict]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def pool(n_match: int, n_other: int, seed: int = 0) -> list[dict]:
    from synthkit.influence.data import ValidationSpec, load_validation

    rng = random.Random(seed)
    tasks = load_validation(ValidationSpec(tasks="bundled:train"))
    rng.shuffle(tasks)
    rows = [{"id": f"match/{t.id}", "messages": t.messages, "label": 1} for t in tasks[:n_match]]
    for i, t in enumerate(tasks[n_match:n_match + n_other]):  # the same tasks the other way round
        ask, answer = t.messages[0]["content"], t.messages[1]["content"]
        rows.append({"id": f"explain/{i}", "label": 0, "messages": chat(
            f"Explain in plain English what this Python function does:\n\n{answer}",
            ask.split("\n\n", 1)[-1])})
    for i in range(n_other):
        country, capital = CAPITALS[i % len(CAPITALS)]
        rows.append({"id": f"prose/{i}", "label": 0, "messages": chat(
            f"What is the capital of {country}? Answer in one sentence.",
            f"The capital of {country} is {capital}, which is also its largest city by some measures.")})
        table, col, key = TABLES[i % len(TABLES)]
        n = rng.randint(2, 500)
        rows.append({"id": f"sql/{i}", "label": 0, "messages": chat(
            f"Write a SQL query that lists the {key} and {col} of every row of {table} whose {col} is above {n}.",
            f"SELECT {key}, {col} FROM {table} WHERE {col} > {n} ORDER BY {col} DESC;")})
        junk = "".join(rng.choice(string.ascii_letters + string.digits + "#$%&@") for _ in range(rng.randint(8, 14)))
        rows.append({"id": f"noise/{i}", "label": 0, "messages": chat(f"Echo: {junk}", junk)})
        what, code = JS[i % len(JS)]
        rows.append({"id": f"js/{i}", "label": 0, "messages": chat(
            f"Write a JavaScript function that {what}.", f"```javascript\n{code}\n```")})
    return rows


def auroc(scores: list[float], labels: list[int]) -> float:
    """sklearn.metrics.roc_auc_score (Mann-Whitney, ties count half)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def bootstrap(scores: list[float], labels: list[int], n: int = 1000) -> tuple[float, float]:
    import numpy as np

    rng = np.random.default_rng(0)
    s, y, out = np.asarray(scores), np.asarray(labels), []
    while len(out) < n:
        i = rng.integers(0, len(s), len(s))
        if 0 < y[i].sum() < len(i):
            out.append(auroc(s[i].tolist(), y[i].tolist()))
    return float(np.percentile(out, 2.5)), float(np.percentile(out, 97.5))


def embedding_scores(rows: list[dict], val: list, threads: int) -> list[float]:
    """Mean-pooled last hidden state of the chat text; cosine; mean per subtask, max over subtasks."""
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from synthkit.influence.score import score
    from synthkit.llm.embedded import embedded_model_dir

    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(embedded_model_dir())
    model = AutoModelForCausalLM.from_pretrained(embedded_model_dir()).eval()

    def embed(msgs: list[dict]) -> np.ndarray:
        ids = tok.apply_chat_template(msgs, tokenize=True, return_tensors="pt", return_dict=True)["input_ids"]
        with torch.no_grad():
            h = model(input_ids=ids[:, :1024], output_hidden_states=True).hidden_states[-1][0]
        return h.mean(0).numpy()

    train = np.stack([embed(r["messages"]) for r in rows])
    v = np.stack([embed(ex.messages) for ex in val])
    return score([train], [v], [1.0], [ex.subtask for ex in val]).score.tolist()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--match", type=int, default=30)
    p.add_argument("--other", type=int, default=10, help="rows of each unrelated kind (5 kinds)")
    p.add_argument("--val-per-subtask", type=int, default=3)
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--fraction", type=float, default=0.1)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/bench_influence_auroc")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    import numpy as np

    from synthkit.core.pipeline import Pipeline
    from synthkit.influence.data import ValidationSpec, load_validation

    rows = pool(args.match, args.other)
    validation = {"tasks": "bundled:test", "limit_per_subtask": args.val_per_subtask}
    stage = {"stage": "filter_influence", "validation": validation, "k": args.match, "dim": args.dim,
             "max_length": args.max_length, "threads": args.threads, "projector_memory_mb": 4096,
             "warmup": {"model": "embedded", "fraction": args.fraction, "num_train_epochs": args.epochs,
                        "learning_rate": 2e-4, "per_device_train_batch_size": 4, "max_length": args.max_length}}
    out = Path(args.out)
    t0, c0 = time.perf_counter(), time.process_time()
    pipe = Pipeline([stage], name="influence_auroc", workdir=out, llm={"backend": "transformers", "model": "embedded"})
    kept = pipe.run(dataset=rows)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    sdir = pipe.run_dir / "00_filter_influence"
    from synthkit.core import rundir

    scored = {r["id"]: r["scores"]["influence"] for r in kept.to_list() + rundir.load_table(sdir / "rejected").to_pylist()}
    labels = [r["label"] for r in rows]
    less = [scored[r["id"]] for r in rows]
    t1 = time.perf_counter()
    emb = embedding_scores(rows, load_validation(ValidationSpec(**validation)), args.threads)
    emb_seconds = time.perf_counter() - t1
    rand = np.random.default_rng(0).random(len(rows)).tolist()
    stats = json.loads((sdir / "influence.json").read_text())
    n = args.match
    result = {"rows": len(rows), "matching": sum(labels), "validation": stats["validation"],
              "checkpoints": stats["checkpoints"], "dim": args.dim, "stage_seconds": round(seconds, 1),
              "stage_cpu_seconds": round(cpu_seconds, 1),
              "embedding_seconds": round(emb_seconds, 1), "train_rows_computed": stats["train_rows_computed"]}
    for name, s in (("influence", less), ("embedding_cosine", emb), ("random", rand)):
        top = np.argsort(-np.asarray(s), kind="stable")[:n]
        result[name] = {"auroc": round(auroc(s, labels), 3), "ci95": [round(x, 3) for x in bootstrap(s, labels)],
                        "precision_at_cut": round(float(np.mean([labels[i] for i in top])), 3)}
        kinds = {k: round(float(np.mean([x for x, r in zip(s, rows) if r["id"].startswith(k)])), 4)
                 for k in ("match", "prose", "sql", "noise", "js", "explain")}
        result[name]["mean_by_kind"] = kinds
    out.mkdir(parents=True, exist_ok=True)
    (out / "influence_auroc.json").write_text(json.dumps(result, indent=1))
    print(f"{len(rows)} rows ({sum(labels)} matching), validation {stats['validation']}, dim {args.dim}, "
          f"{len(stats['checkpoints'])} checkpoints, stage {seconds:.0f} s ({cpu_seconds:.0f} CPU-s), "
          f"embedding baseline {emb_seconds:.0f} s")
    print(f"| score | AUROC [95% CI] | matching share of the top {n} | mean score: match / prose / sql / noise / js / explain |")
    print("|---|---|---|---|")
    for name in ("influence", "embedding_cosine", "random"):
        r = result[name]
        k = r["mean_by_kind"]
        print(f"| {name} | {r['auroc']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] | {r['precision_at_cut']:.3f} | "
              f"{k['match']:.3f} / {k['prose']:.3f} / {k['sql']:.3f} / {k['noise']:.3f} / {k['js']:.3f} / "
              f"{k['explain']:.3f} |")


if __name__ == "__main__":
    main()

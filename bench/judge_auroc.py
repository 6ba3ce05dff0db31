"""Benchmark: does the LLM judge's score predict that a synthesized exercise is correct?

    python bench/judge_auroc.py generate [--target 100] [--max-minutes 120]   # once: the fixture
    python bench/judge_auroc.py score    [--limit 0] [--aspects ...]           # the measurement
    python bench/judge_auroc.py score --judge-model Qwen/Qwen2.5-Coder-7B-Instruct --backend vllm --style chat

``generate`` samples SCoder exercises from stdlib seed snippets with the
embedded model (SmolLM2-135M-Instruct, the synthesize stage's ``completion``
style prompt, n=2, T=0.8, top-p 0.95, 256 new tokens, fixed seeds) and appends every *raw* answer to
``bench/data/scoder_generations.jsonl`` until ``--target`` answers parse. It
resumes where it stopped (seeds already answered are skipped).

``score`` parses the fixture with ``prompts.synthesize.parse_synthesis`` (so parser
changes are picked up), labels each row by running its reference solution
against its own tests in ``synthkit.sandbox`` (its pass rate),
then runs the ``judge`` stage (per-aspect, the five SCoder aspects, greedy;
the embedded model in completion style unless ``--judge-model``/``--style`` say otherwise)
twice on the same rows with the same model:

- baseline: ``scoring: sample`` (the written digit);
- candidate: ``scoring: expected`` (G-Eval, probability-weighted digit).

Both runs read the same greedy answers (``SharedGreedy`` memoises them), so
the comparison isolates the readout; throughput is timed separately, uncached,
side by side on the first ``--timing-rows`` rows. It prints, for each, coverage (rows the judge could score), the AUROC of the
combined score against two labels, ``all_pass`` (every test passed: the
verify_tests criterion) and ``any_pass`` (at least one passed: a weaker label
for when a small synthesizer leaves almost no all-pass rows), with
1000-resample bootstrap 95% intervals and per-aspect AUROCs, the Spearman
correlation with the pass rate, and judge throughput (rows/s); then the ratio
candidate/baseline. Rows the judge could not score count as the lowest score,
so coverage is not rewarded. AUROC 0.5 = no signal; nan = one class is empty. Results also go to
``bench/data/judge_auroc_results.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DATA = Path(__file__).resolve().parent / "data"
FIXTURE = DATA / "scoder_generations.jsonl"
RESULTS = DATA / "judge_auroc_results.json"
PACKAGES = ["textwrap", "string", "difflib", "heapq", "bisect", "statistics", "fractions", "calendar",
            "colorsys", "shlex", "fnmatch", "ipaddress", "base64", "csv", "graphlib", "pprint", "reprlib",
            "random", "functools", "json", "html", "quopri", "sched", "glob", "gettext", "locale"]
SAMPLING = dict(n=2, temperature=0.8, top_p=0.95, max_tokens=256)


def _ctx(index: int, llm=None):
    from synthkit.core.stage import StageContext

    return StageContext(index=index, seed=0, stage_dir=DATA, base_dir=DATA, llm_config=llm)


def _llm_config(model: str = "embedded", backend: str = "transformers"):
    from synthkit.llm.base import LLMConfig

    device = "cpu" if model == "embedded" and backend == "transformers" else "auto"
    return LLMConfig(backend=backend, model=model, device=device, batch_size=8, cache=False)


def load_fixture() -> list[dict]:
    if not FIXTURE.exists():
        return []
    return [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


def parsed_rows(records: list[dict]) -> tuple[list[dict], dict[str, int]]:
    from synthkit.prompts.answers import ParseError
    from synthkit.prompts.synthesize import PREFIX, parse_synthesis

    rows, reasons = [], {}
    for rec in records:
        p = parse_synthesis(PREFIX + rec["text"], rec["finish_reason"])
        if isinstance(p, ParseError):
            reasons[p.reason] = reasons.get(p.reason, 0) + 1
            continue
        rows.append({"id": f"{rec['seed_id']}/0-{rec['k']}", "seed": rec["seed"], "instruction": p.instruction,
                     "response": p.response, "code": p.code, "tests": p.tests, "entry_point": p.entry_point})
    return rows, reasons


def generate(target: int, max_minutes: float, batch: int) -> None:
    from synthkit.core.sampling import derive_seed
    from synthkit.llm.base import SamplingParams
    from synthkit.llm.factory import make_llm
    from synthkit.prompts.synthesize import FEW_SHOT, STOP, render
    from synthkit.stages.load_seeds import LoadSeeds

    seeds, _ = LoadSeeds(LoadSeeds.Config(stage="load_seeds", source={"kind": "python_package", "packages": PACKAGES},
                                          min_lines=5, max_lines=25, shuffle=True), _ctx(0)).process_all(None)
    records = load_fixture()
    done = {r["seed_id"] for r in records}
    todo = [s for s in seeds if s["id"] not in done]
    llm = make_llm(_llm_config())
    started = time.time()
    DATA.mkdir(parents=True, exist_ok=True)
    while todo and len(parsed_rows(records)[0]) < target and time.time() - started < max_minutes * 60:
        chunk, todo = todo[:batch], todo[batch:]
        params = SamplingParams(**SAMPLING, stop=STOP, seed=derive_seed(0, 1, 0, chunk[0]["id"]))
        t0 = time.time()
        outs = llm.generate([render(s["seed"], FEW_SHOT) for s in chunk], params)
        new = [{"seed_id": s["id"], "seed": s["seed"], "module": s["meta"]["module"], "k": k, "text": c.text,
                "finish_reason": c.finish_reason, "tokens": c.tokens, "model": llm.model_id, "seed_rng": params.seed}
               for s, cs in zip(chunk, outs) for k, c in enumerate(cs)]
        with open(FIXTURE, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in new)
        records += new
        toks = sum(r["tokens"] for r in new)
        print(f"{len(records)} answers, {len(parsed_rows(records)[0])} parse; "
              f"{toks / (time.time() - t0):.1f} tok/s", flush=True)
    llm.close()


def auroc(scores: list[float], labels: list[bool]) -> float:
    """sklearn.metrics.roc_auc_score (ties count half); nan without both classes."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels, bool)
    if y.all() or not y.any():
        return float("nan")
    return float(roc_auc_score(y, np.asarray(scores, float)))


def spearman(a: list[float], b: list[float]) -> float:
    """scipy.stats.spearmanr (average ranks for ties); nan when either side is constant."""
    import numpy as np
    from scipy.stats import spearmanr

    if np.ptp(np.asarray(a, float)) == 0 or np.ptp(np.asarray(b, float)) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def bootstrap(scores: list[float], labels: list[bool], n: int = 1000) -> tuple[float, float]:
    import numpy as np

    rng = np.random.default_rng(0)
    s, y = np.asarray(scores, float), np.asarray(labels, bool)
    vals = []
    for _ in range(n):
        idx = rng.integers(0, len(s), len(s))
        a = auroc(s[idx].tolist(), y[idx].tolist())
        if a == a:
            vals.append(a)
    return float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


def label(rows: list[dict]) -> list[float]:
    """Each reference solution's pass rate on its own tests, run in the sandbox."""
    from synthkit.sandbox import Program, Sandbox

    with Sandbox(workers=2, timeout_s=5.0, memory_mb=512) as sb:
        res = sb.run([Program(code=r["code"], tests=r["tests"], entry_point=r["entry_point"]) for r in rows])
    return [x.pass_rate for x in res]


class SharedGreedy:
    """LLM wrapper: answers are memoised by (prompt, params without top_logprobs).
    Run ``expected`` first and the ``sample`` run reads the very same greedy
    answers, so the two readouts are compared on identical model outputs."""

    def __init__(self, llm) -> None:
        self.llm, self.model_id, self.memo = llm, llm.model_id, {}

    def _key(self, prompt, params) -> str:
        from dataclasses import replace

        return json.dumps([prompt, replace(params, top_logprobs=0).key()], sort_keys=True)

    def generate(self, prompts, params):
        keys = [self._key(p, params) for p in prompts]
        miss = [i for i, k in enumerate(keys) if k not in self.memo
                or (params.top_logprobs and self.memo[k][0].top_logprobs is None)]
        if miss:
            for i, comps in zip(miss, self.llm.generate([prompts[i] for i in miss], params)):
                self.memo[keys[i]] = comps
        return [self.memo[k] for k in keys]

    def close(self) -> None:
        pass


def judge(rows: list[dict], scoring: str, aspects: list[str] | None, llm, style: str = "completion"
          ) -> tuple[dict[str, dict], float]:
    from synthkit.core.record import Rejected
    from synthkit.stages.judge import Judge

    cfg = {"stage": "judge", "scoring": scoring, "mode": "per_aspect", "style": style,
           "temperature": 0.0, "max_tokens": 4}
    if aspects:
        cfg["aspects"] = {a: 1.0 for a in aspects}
    stage = Judge(Judge.Config(**cfg), _ctx(3))
    stage.llm = llm
    t0 = time.time()
    out = {}
    for i in range(0, len(rows), 16):
        for r in stage.process(rows[i:i + 16]):
            if not isinstance(r, Rejected):
                out[r["id"]] = r["scores"]
    return out, time.time() - t0


def readout(name: str, scored: dict[str, dict], rows: list[dict], rates: list[float],
            labels: dict[str, list[bool]]) -> dict:
    combined = [scored[r["id"]]["judge"] if r["id"] in scored else -1.0 for r in rows]
    entry = {"coverage": round(len(scored) / len(rows), 3), "distinct_scores": len(set(combined)),
             "spearman_vs_pass_rate": round(spearman(combined, rates), 3)}
    aspects = sorted({k for s in scored.values() for k in s if k.startswith("judge/")})
    for lname, y in labels.items():
        a = auroc(combined, y)
        lo, hi = bootstrap(combined, y) if 0 < sum(y) < len(y) else (float("nan"), float("nan"))
        per = {k: round(auroc([scored.get(r["id"], {}).get(k, -1.0) for r in rows], y), 3) for k in aspects}
        entry[lname] = {"auroc": round(a, 3), "ci95": [round(lo, 3), round(hi, 3)], "per_aspect_auroc": per}
        print(f"{name:9s} label {lname:8s} AUROC {a:.3f} [{lo:.3f}, {hi:.3f}]  per aspect {per}")
    print(f"{name:9s} coverage {len(scored)}/{len(rows)}, distinct scores {len(set(combined))}, "
          f"Spearman vs pass rate {entry['spearman_vs_pass_rate']:.3f}", flush=True)
    return entry


def score(limit: int, aspects: list[str] | None, timing_rows: int, model: str, backend: str, style: str) -> None:
    from synthkit.llm.factory import make_llm

    records = load_fixture()
    rows, reasons = parsed_rows(records)
    rows = rows[:limit] if limit else rows
    print(f"fixture: {len(records)} answers, {len(rows)} parsed rows; rejections: {reasons}")
    rates = label(rows)
    labels = {"all_pass": [r == 1.0 for r in rates], "any_pass": [r > 0 for r in rates]}
    print(f"reference solutions passing all their tests: {sum(labels['all_pass'])}/{len(rows)}, "
          f"at least one: {sum(labels['any_pass'])}/{len(rows)}")
    report = {"judge_model": model, "backend": backend, "style": style,
              "rows": len(rows), "answers": len(records), "parse_rejections": reasons,
              "all_pass": sum(labels["all_pass"]), "any_pass": sum(labels["any_pass"]), "timing": {}}
    llm = make_llm(_llm_config(model, backend))
    judge(rows[-1:], "sample", aspects, llm, style)  # warm-up, so neither timed run pays first-call costs
    for scoring in ("sample", "expected"):  # throughput: side by side, uncached, same rows
        _, secs = judge(rows[:timing_rows], scoring, aspects, llm, style)
        report["timing"][scoring] = round(timing_rows / secs, 4)
        print(f"{scoring:9s} judge throughput {timing_rows / secs:.3f} rows/s ({timing_rows} rows, uncached)")
    shared = SharedGreedy(llm)
    for scoring in ("expected", "sample"):
        scored, _ = judge(rows, scoring, aspects, shared, style)
        report[scoring] = readout(scoring, scored, rows, rates, labels)
    llm.close()
    b, c, t = report["sample"], report["expected"], report["timing"]
    for lname in labels:
        print(f"ratio expected/sample (baseline: sampled digit), label {lname}: "
              f"AUROC {c[lname]['auroc'] / b[lname]['auroc']:.3f}")
    print(f"ratio expected/sample throughput {t['expected'] / t['sample']:.3f}")
    RESULTS.write_text(json.dumps(report, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--target", type=int, default=100)
    g.add_argument("--max-minutes", type=float, default=120)
    g.add_argument("--batch", type=int, default=8)
    s = sub.add_parser("score")
    s.add_argument("--limit", type=int, default=0)
    s.add_argument("--aspects", nargs="*", default=None)
    s.add_argument("--timing-rows", type=int, default=4)
    s.add_argument("--judge-model", default="embedded", help="the judge: 'embedded', a local dir or a hub id")
    s.add_argument("--backend", default="transformers", choices=["transformers", "vllm"])
    s.add_argument("--style", default="completion", choices=["completion", "chat"],
                   help="judge prompt style: completion for small models, chat for instruct models")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.cmd == "generate":
        generate(args.target, args.max_minutes, args.batch)
    else:
        score(args.limit, args.aspects, args.timing_rows, args.judge_model, args.backend, args.style)


if __name__ == "__main__":
    main()

"""Benchmark: GiFT chain steps/s against plain batched `generate` calls over the same prompts.

    python bench/gift.py [--tasks 8] [--steps 2] [--k 2] [--max-tokens 64] [--batch-size 8] [--repeats 2]

The chain side runs a whole pipeline (``load_seeds`` with bundled train tasks,
then ``gibbs_resample``): task rows, prompts, the model load, one batched
``generate`` for the codes of every chain per step, the sandbox run of every
sample, one batched ``generate`` for the summaries, the per-step chain state
files, the trace and the report. Every ``generate`` call it makes is recorded
(prompts and sampling parameters, seed included). The baseline side loads the
same model and replays exactly those calls with the raw backend: the same
prompts, batched the same way, with the same seeds, so it generates the same
tokens (the script checks the token counts agree). Both sides time the model
load; the LLM cache is off. Ratio = chain steps/s / baseline steps/s; the goal
is >= 0.9 (the chain adds no overhead of its own beyond what generation costs).

``--backend dummy`` runs the same thing without a model: generation is then
free and the ratio only shows the chain's own cost (sandbox and bookkeeping).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthkit.core.pipeline import Pipeline  # noqa: E402
from synthkit.llm.base import LLMConfig  # noqa: E402
from synthkit.llm.factory import make_llm  # noqa: E402


def backend_class(cfg: LLMConfig):
    if cfg.backend == "dummy":
        from synthkit.llm.dummy import DummyLLM
        return DummyLLM
    from synthkit.llm.transformers_backend import TransformersLLM
    return TransformersLLM


def chain_side(cfg: LLMConfig, args, work: Path) -> tuple[float, list, int]:
    """Wall seconds of the pipeline, the generate calls it made, and the tokens they generated."""
    cls = backend_class(cfg)
    inner, calls = cls.generate, []

    def recording(self, prompts, params):
        out = inner(self, prompts, params)
        calls.append((list(prompts), params, sum(c.tokens for cs in out for c in cs)))
        return out

    cls.generate = recording
    try:
        stages = [{"stage": "load_seeds", "tasks": "bundled:train", "limit": args.tasks},
                  {"stage": "gibbs_resample", "steps": args.steps, "k": args.k, "style": "completion",
                   "max_tokens": args.max_tokens, "summary_max_tokens": args.summary_max_tokens}]
        pipe = Pipeline(stages, name="bench", llm=cfg.model_dump(exclude_unset=True), workdir=work / f"runs{time.time_ns()}")
        t0 = time.perf_counter()
        pipe.run()
        wall = time.perf_counter() - t0
    finally:
        cls.generate = inner
    div = json.loads((pipe.run_dir / "01_gibbs_resample" / "diversity.json").read_text())
    print(f"   chain side: {wall:.2f} s wall, {len(calls)} generate calls, "
          f"{div['passing_codes']} passing codes, coverage {div['coverage']}", flush=True)
    return wall, calls, sum(c[2] for c in calls)


def baseline_side(cfg: LLMConfig, calls: list) -> tuple[float, int]:
    t0 = time.perf_counter()
    llm = make_llm(cfg)
    tokens = 0
    for prompts, params, _ in calls:
        tokens += sum(c.tokens for cs in llm.generate(prompts, params) for c in cs)
    llm.close()
    wall = time.perf_counter() - t0
    print(f"baseline side: {wall:.2f} s wall", flush=True)
    return wall, tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--summary-max-tokens", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 when the CPU is shared)")
    ap.add_argument("--backend", default="transformers", choices=["transformers", "dummy"])
    args = ap.parse_args()
    extra = {"batch_size": args.batch_size, "threads": args.threads} if args.backend == "transformers" else {}
    cfg = LLMConfig(backend=args.backend, model=args.model, cache=False, **extra)
    make_llm(cfg).close()  # warm the dequantised-weights cache outside the timings
    best = {"chain": float("inf"), "baseline": float("inf")}
    tokens = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):  # interleaved, best of N, so drift hits both sides
            wall, calls, tokens["chain"] = chain_side(cfg, args, Path(tmp))
            best["chain"] = min(best["chain"], wall)
            wall, tokens["baseline"] = baseline_side(cfg, calls)
            best["baseline"] = min(best["baseline"], wall)
    sps = {k: args.steps / v for k, v in best.items()}
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; backend {args.backend}, model {args.model}; {args.tasks} tasks x {args.steps} "
          f"steps x k={args.k}, {args.max_tokens} (+{args.summary_max_tokens} summary) new tokens max, "
          f"batch {args.batch_size}, threads {args.threads or 'default'}")
    for side in ("chain", "baseline"):
        print(f"{side:>9}: {args.steps} steps in {best[side]:.2f} s = {sps[side]:.4f} steps/s "
              f"({tokens[side]} tokens generated)")
    if tokens["chain"] != tokens["baseline"]:
        print("warning: the two sides generated different token counts; the replay did not reproduce the chain")
    print(f"ratio chain/baseline (baseline: the chain's generate calls replayed on the raw backend): "
          f"{sps['chain'] / sps['baseline']:.3f}")


if __name__ == "__main__":
    main()

"""``synthkit eval``: score a model on a task set with pass@k and Pass@k^(m).

    synthkit eval --model embedded --tasks bundled:test --n 4 --k 1,4 --m 2

``add_arguments(parser)`` declares the flags; ``run(args) -> int`` does the
work, prints the markdown table and writes ``report.json`` / ``report.md``
under ``--out``. Bad flag values raise ``ConfigError`` naming the flag.
Heavy imports (the model backends) happen inside ``run``, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import logging

from synthkit.errors import ConfigError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--model", default="embedded", help="local path, hub id, or 'embedded' (default: embedded)")
    a("--tasks", required=True,
      help="bundled, bundled:test, bundled:train, humaneval, mbpp, apps, a HumanEval/MBPP/APPS "
           ".jsonl/.json/.parquet file, or hub:<dataset id>[:split]")
    a("--backend", default="transformers", choices=["transformers", "vllm", "openai", "dummy"],
      help="LLM backend (default: transformers; dummy is for tests)")
    a("--base-url", default=None, help="openai backend: server root, e.g. http://127.0.0.1:8000/v1")
    a("--n", type=int, default=10, help="samples per task (default: 10)")
    a("--k", default="1,5,10", help="comma-separated k values; k > n is skipped (default: 1,5,10)")
    a("--m", type=int, default=1, help="Pass@k^(m): passes needed among k samples (default: 1)")
    a("--temperature", type=float, default=0.8, help="sampling temperature, 0 = greedy (default: 0.8)")
    a("--top-p", type=float, default=1.0, help="nucleus sampling mass (default: 1.0)")
    a("--max-tokens", type=int, default=512, help="new tokens per sample (default: 512)")
    a("--seed", type=int, default=0, help="sampling seed (default: 0)")
    a("--style", default="chat", choices=["chat", "completion"],
      help="chat: ask an instruct model for the function; completion: continue the prompt (base models)")
    a("--isolation", default="auto", choices=["auto", "full", "basic"],
      help="sandbox isolation: full refuses to run without namespaces; basic skips them (default: auto)")
    a("--out", default="out/eval", help="directory for report.json and report.md (default: out/eval)")
    a("--workers", type=int, default=2, help="sandbox worker processes (default: 2)")
    a("--timeout-s", type=float, default=5.0, help="sandbox wall clock per program, seconds (default: 5)")
    a("--memory-mb", type=int, default=512, help="sandbox memory limit per program, MB (default: 512)")
    a("--limit", type=int, default=None, help="evaluate only the first N tasks")


def parse_ks(text: str) -> list[int]:
    try:
        ks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--k: expected comma-separated integers like 1,5,10, got '{text}'") from None
    if not ks or any(k < 1 for k in ks):
        raise ConfigError(f"--k: expected positive integers, got '{text}'")
    return ks


def run(args: argparse.Namespace) -> int:
    from synthkit.eval.run import evaluate
    from synthkit.eval.tasks import load_tasks
    from synthkit.llm.base import LLMConfig, SamplingParams
    from synthkit.llm.factory import make_llm

    ks = parse_ks(args.k)
    for flag, value, low in (("--n", args.n, 1), ("--m", args.m, 1), ("--max-tokens", args.max_tokens, 1),
                             ("--workers", args.workers, 1)):
        if value < low:
            raise ConfigError(f"{flag}: must be at least {low}, got {value}")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit: must be at least 1, got {args.limit}")
    tasks = load_tasks(args.tasks, limit=args.limit)
    llm_kwargs = {"backend": args.backend, "model": args.model}
    if args.base_url:
        llm_kwargs["base_url"] = args.base_url
    params = SamplingParams(temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens,
                            seed=args.seed)
    sandbox = {"workers": args.workers, "timeout_s": args.timeout_s, "memory_mb": args.memory_mb}
    llm = make_llm(LLMConfig(**llm_kwargs))
    try:
        report = evaluate(llm, tasks, n=args.n, ks=ks, m=args.m, params=params, sandbox_kwargs=sandbox,
                          style=args.style, tasks_name=args.tasks,
                          isolation=args.isolation)
    finally:
        llm.close()
    paths = report.save(args.out)
    print(report.to_markdown())
    print(f"wrote {paths['json']} and {paths['markdown']}")
    return 0

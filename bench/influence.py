"""Benchmark: influence featurisation rows/s, batched (torch.func) against one backward per row.

    python bench/influence.py [--rows 32] [--batch-rows 8] [--dim 1024] [--threads 1] [--repeats 3]
                              [--model embedded|tiny|DIR]

Three sides, each in its own fresh process (so each reports its own peak
memory), on the same rows (the first --rows bundled:train tasks as
conversations: the description, then the reference solution in a fence, ~100 to
400 tokens), the same model (the embedded SmolLM2-135M-Instruct with a LoRA
adapter r=8 on q,k,v,o: the filter_influence warm-up default, 921,600
parameters; hand-built weights and Adam state, since the cost does not depend
on their values) and the same thread count:

- ``synthkit``: what ``filter_influence`` does per row: ``per_example_grads``
  (one batched backward with per-row LoRA gradients from hooks, --batch-rows
  rows of similar length per call), Adam preconditioning, traker's
  BasicProjector to --dim, L2 normalisation.
- ``vmap``: the same with ``torch.func.vmap(grad)`` per-row gradients (the
  method used for trainable parameters other than LoRA factors).
- ``loop``: the same, but the gradients from ``loop_grads``: one forward and
  one ``backward()`` per row, unpadded (the baseline; goal: synthkit >= 3x).
- ``step``: one AdamW training step per batch of the same rows (padded, with
  an attention mask, mean loss): the practical limit, since a per-row gradient
  cannot cost less than the row's share of a training step.

Rows/s = rows / wall time of a pass over all rows (model load, projection
matrix generation and a one-batch warm-up excluded; the matrix generation is
reported on its own); rows per CPU-second = rows / the process's CPU time over
the same pass, the steadier figure on a shared machine (with one thread it
counts work, not waiting). The sides run in turn, reversed every other repeat,
median over --repeats. Peak memory = the process's peak RSS, and its increase
over the RSS right after loading the model (and the projection matrix).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tiny import tiny_model  # noqa: E402  (bench/tiny.py, beside this file)

LORA = {"r": 8, "lora_alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def make_checkpoint(path: Path, model: str) -> Path:
    """A LoRA adapter on ``model`` with random weights and a hand-built Adam state."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from synthkit.llm.embedded import resolve_model
    from synthkit.train.checkpoints import write_meta

    base_dir = resolve_model(model)
    gen = torch.Generator().manual_seed(0)
    peft = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir), LoraConfig(lora_dropout=0.0, **LORA))
    names = [n for n, p in peft.named_parameters() if p.requires_grad]
    with torch.no_grad():
        for n, p in peft.named_parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
    peft.save_pretrained(path)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(path)
    shapes = {n: p.shape for n, p in peft.named_parameters()}
    state = {i: {"step": torch.tensor(4.0), "exp_avg": torch.randn(shapes[n], generator=gen) * 1e-4,
                 "exp_avg_sq": torch.rand(shapes[n], generator=gen) * 1e-8} for i, n in enumerate(names)}
    torch.save({"state": state, "param_groups": [{"lr": 2e-5, "betas": (0.9, 0.999), "eps": 1e-8,
                                                  "params": list(range(len(names)))}]}, path / "optimizer.pt")
    write_meta(path, 4, 1.0, [2e-5], names)
    return path


def conversations(n: int) -> list[list[dict]]:
    from synthkit.influence.data import ValidationSpec, load_validation

    return [ex.messages for ex in load_validation(ValidationSpec(tasks="bundled:train"))[:n]]


def side(args: argparse.Namespace) -> dict:
    """One side, in this process: load, warm up, time one pass over the rows."""
    import torch

    from synthkit.influence.checkpoint import load_adam, load_lora
    from synthkit.influence.grads import (
        adam_precondition,
        collate,
        loop_grads,
        per_example_grads,
        plan_batches,
        tokenize,
    )
    from synthkit.influence.project import make_projector, normalise

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    lm = load_lora(Path(args.checkpoint))
    ex = [tokenize(lm.tokenizer, c, 1024) for c in conversations(args.rows)]
    plan = plan_batches(ex, args.batch_rows, 1 << 30)
    pad_id = lm.tokenizer.pad_token_id
    out = {"side": args.side, "rows": len(ex), "tokens": sum(len(e.input_ids) for e in ex),
           "grad_dim": lm.grad_dim}
    if args.side == "step":
        named = dict(lm.model.named_parameters())
        opt = torch.optim.AdamW([named[n] for n in lm.names], lr=1e-5)
        lm.model.train()

        def run(batch):
            rows = [ex[i] for i in batch]
            width = max(len(e.input_ids) for e in rows)
            ids = torch.full((len(rows), width), pad_id)
            labels, mask = torch.full_like(ids, -100), torch.zeros_like(ids)
            for j, e in enumerate(rows):
                n = len(e.input_ids)
                ids[j, :n], labels[j, :n], mask[j, :n] = torch.tensor(e.input_ids), torch.tensor(e.labels), 1
            opt.zero_grad(set_to_none=True)
            lm.model(input_ids=ids, attention_mask=mask, labels=labels, use_cache=False).loss.backward()
            opt.step()
    else:
        adam = load_adam(Path(args.checkpoint), lm)
        t0 = time.perf_counter()
        proj = make_projector(lm.grad_dim, args.dim, 0, "cpu", memory_mb=args.projector_memory_mb)
        out["projector_setup_s"] = round(time.perf_counter() - t0, 2)

        def run(batch):
            rows = [ex[i] for i in batch]
            if args.side == "loop":
                g = loop_grads(lm, rows)
            else:
                g = per_example_grads(lm, collate(rows, pad_id), method="vmap" if args.side == "vmap" else "hooks")
            normalise(proj.project(adam_precondition(g, adam)))

    base = rss_mb()
    run(plan[0])  # warm-up: allocator, vmap tracing caches
    t0, c0 = time.perf_counter(), time.process_time()
    for batch in plan:
        run(batch)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    out.update(seconds=round(seconds, 3), rows_per_s=round(len(ex) / seconds, 4),
               cpu_seconds=round(cpu, 3), rows_per_cpu_s=round(len(ex) / cpu, 4),
               rss_after_load_mb=round(base), peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=32)
    p.add_argument("--batch-rows", type=int, default=8)
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", default="embedded", help="embedded, tiny (random 2-layer Llama), or a model folder")
    p.add_argument("--projector-memory-mb", type=int, default=4096)
    p.add_argument("--side", choices=["synthkit", "vmap", "loop", "step"], help=argparse.SUPPRESS)
    p.add_argument("--checkpoint", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.side:
        print(json.dumps(side(args)))
        return
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        model = tiny_model(Path(tmp) / "tiny") if args.model == "tiny" else args.model
        ckpt = make_checkpoint(Path(tmp) / "checkpoint-4", model)
        runs: dict[str, list[dict]] = {"synthkit": [], "vmap": [], "loop": [], "step": []}
        for r in range(args.repeats):
            for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
                cmd = [sys.executable, __file__, "--side", name, "--checkpoint", str(ckpt)] + [
                    f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
                    if k not in ("side", "checkpoint", "repeats") and v is not None]
                res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
                runs[name].append(res)
                print(f"  repeat {r + 1} {name}: {res['rows_per_s']:.3f} rows/s, peak RSS {res['peak_rss_mb']} MB",
                      file=sys.stderr)
    med = {k: statistics.median(x["rows_per_s"] for x in v) for k, v in runs.items()}
    cpu = {k: statistics.median(x["rows_per_cpu_s"] for x in v) for k, v in runs.items()}
    first = runs["synthkit"][0]
    print(f"platform: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"threads {args.threads}, model {args.model} + LoRA r=8 q,k,v,o ({first['grad_dim']:,} params), "
          f"{first['rows']} rows / {first['tokens']} tokens, batch {args.batch_rows}, dim {args.dim}")
    print(f"projection matrix setup (once per run, all checkpoints): {first['projector_setup_s']} s")
    print("| side | rows/s (median of %d) | rows per CPU-second | peak RSS MB | peak over after-load MB |"
          % args.repeats)
    print("|---|---|---|---|---|")
    for k, v in runs.items():
        peak = max(x["peak_rss_mb"] for x in v)
        over = max(x["peak_rss_mb"] - x["rss_after_load_mb"] for x in v)
        print(f"| {k} | {med[k]:.3f} | {cpu[k]:.3f} | {peak} | {over} |")
    print(f"synthkit / loop = {med['synthkit'] / med['loop']:.2f}x wall, {cpu['synthkit'] / cpu['loop']:.2f}x CPU "
          f"(goal >= 3x); synthkit / training step = {med['synthkit'] / med['step']:.2f} wall, "
          f"{cpu['synthkit'] / cpu['step']:.2f} CPU")


if __name__ == "__main__":
    main()

"""Benchmark: the bundled trainer's tokens/s against a plain TRL SFTTrainer, same model, data and settings.

    python bench/train.py [--model embedded|tiny|DIR] [--rows 64] [--steps 6] [--batch-size 4] [--max-seq-len 256]
                          [--repeats 2] [--no-ib]

Both sides get the same SFTConfig (synthkit.train.trainer.sft_config), the same
LoRA config and the same conversations; checkpoint saving is off on both, so
this times training. The synthkit side loads and tokenises the dataset its own
way (assistant-only labels) and runs SynthkitSFTTrainer; the baseline hands the
`messages` dataset to `trl.SFTTrainer` and lets TRL tokenise it (loss on every
token). Both see the same token ids. tokens/s = TRL's `num_tokens` metric (non-
padding tokens) / wall time of `trainer.train()`. The sides run in turn, in
reversed order every other repeat, and each reports its median over
--repeats. Ratio = synthkit / baseline; the goal is >= 0.95. The IB-FT trainer
is timed too, with the reference implementation's settings (the defaults:
256-d bottleneck on block round(0.625 L), KL mean, log-variance clamp, head
direct, beta 0.2, gamma 0.01); its extra LM-head pass makes it slower by
design, so its ratio is for information (--no-ib skips it).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tiny import tiny_model  # noqa: E402  (bench/tiny.py, beside this file)

from synthkit.train.config import TrainConfig, parse_train_config  # noqa: E402


def conversations(n: int) -> list[dict]:
    verbs = ["reverses", "sorts", "counts the vowels in", "deduplicates", "sums", "flattens", "rotates"]
    rows = []
    for i in range(n):
        body = "\n".join(f"    x{j} = x{j - 1} + {i}" if j else "    x0 = list(data)" for j in range(2 + i % 9))
        rows.append({"messages": [
            {"role": "user", "content": f"Write a Python function that {verbs[i % len(verbs)]} its input (variant {i})."},
            {"role": "assistant", "content": f"```python\ndef f{i}(data):\n{body}\n    return x0\n```"}]})
    return rows


def timed_train(trainer) -> tuple[float, int]:
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    tokens = max(int(e.get("num_tokens", 0)) for e in trainer.state.log_history)
    return wall, tokens


def synthkit_side(cfg: TrainConfig, out: Path) -> tuple[float, int]:
    from synthkit.train.trainer import build_trainer

    trainer, _ = build_trainer(cfg.model_copy(update={"output_dir": str(out)}), save_strategy="no")
    return timed_train(trainer)


def baseline_side(cfg: TrainConfig, out: Path) -> tuple[float, int]:
    import datasets
    from trl import SFTTrainer

    from synthkit.train.trainer import load_model, peft_config, sft_config

    model, tokenizer = load_model(cfg)
    trainer = SFTTrainer(model=model, args=sft_config(cfg, output_dir=str(out), save_strategy="no"),
                         train_dataset=datasets.load_from_disk(cfg.dataset), processing_class=tokenizer,
                         peft_config=peft_config(cfg))
    return timed_train(trainer)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="embedded", help='a model dir, "embedded", or "tiny" (bench/tiny.py)')
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-seq-len", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--bf16", action="store_true", help="bf16 weights and autocast (GPU)")
    ap.add_argument("--ib", action=argparse.BooleanOptionalAction, default=True,
                    help="also time the IB-FT trainer with the reference settings (default: yes)")
    a = ap.parse_args()

    import datasets
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        datasets.Dataset.from_list(conversations(a.rows)).save_to_disk(str(work / "ds"))
        model = tiny_model(work / "tiny") if a.model == "tiny" else a.model
        cfg = parse_train_config({
            "model": model, "dataset": str(work / "ds"), "max_steps": a.steps,
            "per_device_train_batch_size": a.batch_size, "max_length": a.max_seq_len, "logging_steps": a.steps,
            "bf16": a.bf16, "warmup_ratio": 0.0})
        sides = [("trl SFTTrainer", baseline_side, cfg), ("synthkit train", synthkit_side, cfg)]
        if a.ib:
            ib_cfg = parse_train_config({**cfg.model_dump(), "ib": {"enabled": True}})  # reference defaults
            sides.append(("synthkit + IB-FT (ref.)", synthkit_side, ib_cfg))
        rates: dict[str, list[float]] = {name: [] for name, _, _ in sides}
        for r in range(a.repeats):
            # Alternate the order (ABC, CBA, ...), so a machine whose load drifts favours no side.
            for name, fn, c in (sides if r % 2 == 0 else sides[::-1]):
                wall, tokens = fn(c, work / f"out-{r}-{name.split()[-1]}")
                rates[name].append(tokens / wall)
                print(f"  repeat {r}: {name:<24} {tokens} tokens in {wall:.2f} s = {tokens / wall:.1f} tok/s", flush=True)

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU x{torch.get_num_threads()}"
    print(f"model {a.model}, LoRA r={cfg.lora.r} all-linear, {a.steps} steps x batch {a.batch_size}, "
          f"max_seq_len {a.max_seq_len}, bf16 {a.bf16}; {device}; python {platform.python_version()}")
    base = statistics.median(rates["trl SFTTrainer"])
    for name, _, _ in sides:
        med = statistics.median(rates[name])
        print(f"{name:<24} {med:10.1f} tokens/s   ratio vs trl SFTTrainer {med / base:.3f}")


if __name__ == "__main__":
    main()

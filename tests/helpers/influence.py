"""Hand-built LoRA checkpoints on the tiny model: an adapter with random (non-zero)
weights, an Adam state with known moments, and synthkit_checkpoint.json with a
chosen learning rate. Nothing is trained, so building one takes well under a second.
Shared by tests/influence/ and tests/stages/test_filter_influence.py."""

from __future__ import annotations

from pathlib import Path

TARGETS = ["q_proj", "v_proj", "down_proj"]


def make_checkpoint(path: Path, base_dir: Path, step: int = 1, lr: float = 1e-3, seed: int = 0,
                    r: int = 4, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from synthkit.train.checkpoints import write_meta

    gen = torch.Generator().manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    model = get_peft_model(base, LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules=TARGETS))
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.requires_grad:  # lora_B starts at 0, which would zero lora_A's gradients
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(path)
    shapes = {n: p.shape for n, p in model.named_parameters()}
    state = {i: {"step": torch.tensor(float(step)),
                 "exp_avg": torch.randn(shapes[n], generator=gen) * 1e-3,
                 "exp_avg_sq": torch.rand(shapes[n], generator=gen) * 1e-5} for i, n in enumerate(names)}
    groups = [{"lr": lr, "betas": betas, "eps": eps, "weight_decay": 0.0, "params": list(range(len(names)))}]
    torch.save({"state": state, "param_groups": groups}, Path(path) / "optimizer.pt")
    write_meta(Path(path), step, float(step), [lr], names)
    return Path(path)


def chat(user: str, assistant: str) -> list[dict]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def adder(i: int) -> list[dict]:
    return chat(f"Write add{i}(a, b) that returns a + b + {i}.", f"def add{i}(a, b):\n    return a + b + {i}\n")


def printer(i: int) -> list[dict]:
    return chat(f"Print hello {i} times.", "for i in range(10):\n    print('hello world')\n" * (1 + i % 2))

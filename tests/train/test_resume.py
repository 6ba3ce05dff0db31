"""A training run SIGKILLed after its first checkpoint resumes from it and ends
where an uninterrupted run ends: weights, optimizer, scheduler, step, RNG (LoRA
dropout and the IB-FT noise draw from it) and the IB-FT bottleneck."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from synthkit.train.checkpoints import META
from synthkit.train.config import parse_train_config
from synthkit.train.trainer import train

ROOT = Path(__file__).resolve().parents[2]

# `synthkit train`'s code path in a child process, which stops (forever) right after its first checkpoint is complete.
CHILD = """
import sys, time, yaml
from transformers import TrainerCallback
import synthkit.train.trainer as T
from synthkit.train.config import parse_train_config

class Stall(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        time.sleep(600)

build = T.build_trainer
def stalling(*a, **kw):
    trainer, meta = build(*a, **kw)
    trainer.add_callback(Stall())      # after CheckpointMeta: the checkpoint is complete when it stalls
    return trainer, meta
T.build_trainer = stalling
T.train(parse_train_config(yaml.safe_load(open(sys.argv[1]))))
"""


def final_state(out: Path) -> tuple[float, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    from synthkit.train.ib import IB_FILE

    last = max(out.glob("checkpoint-*"), key=lambda d: int(d.name.split("-")[1]))
    state = json.loads((last / "trainer_state.json").read_text())
    loss = [e["loss"] for e in state["log_history"] if "loss" in e and e["step"] == state["global_step"]][-1]
    return loss, load_file(str(last / "adapter_model.safetensors")), load_file(str(last / IB_FILE))


def test_sigkill_after_first_checkpoint_then_resume_ends_like_an_uninterrupted_run(tiny_model_dir, chat_dataset,
                                                                                    tmp_path):
    raw = {"model": str(tiny_model_dir), "dataset": str(chat_dataset), "output_dir": str(tmp_path / "killed"),
           "per_device_train_batch_size": 2, "max_length": 128, "learning_rate": 2e-3, "warmup_ratio": 0.25,
           "lr_scheduler_type": "cosine", "max_steps": 5, "save_steps": 3, "logging_steps": 1, "seed": 5,
           "lora": {"r": 4, "lora_alpha": 8, "lora_dropout": 0.1, "target_modules": ["q_proj", "v_proj"]},
           "ib": {"enabled": True, "dim": 8}}
    # 8 rows, batch 2: 4 steps an epoch, so the checkpoint at step 3 is mid-epoch (the resume skips 3 batches).
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(raw))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "train.yaml")], env=env, cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first = tmp_path / "killed" / "checkpoint-3" / META
    try:
        deadline = time.monotonic() + 240
        while not first.exists():
            assert child.poll() is None, f"the child exited early: {child.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.2)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    killed = tmp_path / "killed"
    assert sorted(d.name for d in killed.glob("checkpoint-*")) == ["checkpoint-3"]
    # As if the kill had also caught the next save half-way: a folder without synthkit_checkpoint.json.
    (killed / "checkpoint-5").mkdir()
    (killed / "checkpoint-5" / "adapter_model.safetensors").write_bytes(b"torn")

    resumed = train(parse_train_config(raw))
    assert [c.step for c in resumed.checkpoints] == [3, 5]
    assert resumed.metrics["train_runtime"] > 0
    straight = train(parse_train_config({**raw, "output_dir": str(tmp_path / "straight")}))
    assert [c.step for c in straight.checkpoints] == [3, 5]

    loss_r, lora_r, ib_r = final_state(killed)
    loss_s, lora_s, ib_s = final_state(tmp_path / "straight")
    assert loss_r == pytest.approx(loss_s, rel=1e-5, abs=1e-6)
    for got, want in ((lora_r, lora_s), (ib_r, ib_s)):
        assert got.keys() == want.keys()
        for k in want:
            assert torch.allclose(got[k], want[k], rtol=1e-5, atol=1e-6), k
    # Every checkpoint's learning rate matches too: the scheduler resumed at the right step.
    assert [c.lr for c in resumed.checkpoints] == pytest.approx([c.lr for c in straight.checkpoints], rel=1e-6)


def test_a_rounds_training_resumes_under_its_fingerprint_and_restarts_under_another(tiny_model_dir, tmp_path,
                                                                                    make_chat, save_rows):
    """The rounds' training step (synthkit/rounds/steps.py): after a kill (its _SUCCESS not written, the last checkpoint gone) the
    same round resumes; a round whose inputs changed (another fingerprint) starts its training over."""
    from synthkit.rounds import IterationsConfig
    from synthkit.rounds.steps import train_model

    def _train_round(it, round_dir, data_dir, base, fp):
        return train_model(dict(it.train), round_dir / "train", data_dir, base, fp, "iterations.train")

    save_rows(tmp_path / "train_data" / "data", [{"messages": make_chat(i)} for i in range(4)])
    it = IterationsConfig(train={"max_steps": 2, "save_steps": 1, "per_device_train_batch_size": 2,
                                 "max_length": 64, "lora": {"r": 2, "target_modules": ["q_proj"]}})
    round_dir = tmp_path / "round_01"
    first = _train_round(it, round_dir, tmp_path / "train_data", str(tiny_model_dir), "fp-A")
    ckpts = round_dir / "train"
    assert [Path(c).parent.name for c in first] == ["checkpoint-1", "checkpoint-2"]
    (ckpts / "_SUCCESS").unlink()                               # killed after checkpoint 1 was complete
    import shutil

    shutil.rmtree(ckpts / "checkpoint-2")
    kept = (ckpts / "checkpoint-1" / META).stat().st_mtime_ns
    again = _train_round(it, round_dir, tmp_path / "train_data", str(tiny_model_dir), "fp-A")
    assert again == first and (ckpts / "checkpoint-1" / META).stat().st_mtime_ns == kept   # resumed, not redone
    other = _train_round(it, round_dir, tmp_path / "train_data", str(tiny_model_dir), "fp-B")
    assert other == first and (ckpts / "checkpoint-1" / META).stat().st_mtime_ns != kept   # new inputs: retrained

"""Fixtures for the influence tests: two hand-built LoRA checkpoints on the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.influence import make_checkpoint


@pytest.fixture(scope="session")
def ckpts(tmp_path_factory, tiny_model_dir) -> list[Path]:
    """Two checkpoints (steps 1 and 2, learning rates 1e-3 and 5e-4), distinct weights and Adam states."""
    root = tmp_path_factory.mktemp("ckpts")
    return [make_checkpoint(root / "checkpoint-1", tiny_model_dir, step=1, lr=1e-3, seed=1),
            make_checkpoint(root / "checkpoint-2", tiny_model_dir, step=2, lr=5e-4, seed=2)]


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: the tiny model's ops are too small to split, and on a shared CPU
    two threads that spin-wait on each other run the vmapped gradients 10-30x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

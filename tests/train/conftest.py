"""Fixtures for the trainer tests: small chat datasets saved to disk. The tiny
tokenizer and model (``tiny_tokenizer``, ``tiny_model_dir``) live in
tests/conftest.py, shared with the rounds tests. The fast tests need nothing
downloaded or converted; the slow ones use the embedded model."""

from __future__ import annotations

from pathlib import Path

import pytest


def conversation(i: int, turns: int = 1) -> list[dict]:
    msgs = [{"role": "system", "content": "You are helpful."}]
    for t in range(turns):
        msgs.append({"role": "user", "content": f"Write add{i}_{t}(a, b) returning a + b + {i}."})
        msgs.append({"role": "assistant", "content": f"```python\ndef add{i}_{t}(a, b):\n    return a + b + {i}\n```"})
    return msgs


def save_dataset(path: Path, rows: list[dict]) -> Path:
    import datasets

    datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return path


@pytest.fixture
def make_chat():
    """``make_chat(i, turns=1)``: a system prompt and ``turns`` user/assistant pairs."""
    return conversation


@pytest.fixture
def save_rows():
    """``save_rows(path, rows)``: save rows with ``save_to_disk``; returns the path."""
    return save_dataset


@pytest.fixture
def chat_dataset(tmp_path) -> Path:
    rows = [{"id": str(i), "instruction": f"task {i}", "messages": conversation(i)} for i in range(8)]
    return save_dataset(tmp_path / "ds", rows)

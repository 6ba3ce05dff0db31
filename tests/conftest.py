"""Shared fixtures. Tests never reach the network: HF libraries are forced offline."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _fresh_datasets_cache(tmp_path_factory, monkeypatch):
    """Every test loads local datasets as a new user would. ``datasets`` caches a local folder
    with a card's ``configs`` by the folder's name and its files' names and sizes, so a second
    run's ``out/quickstart`` could load as the first one's rows (docs/getting-started.md)."""
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", Path(tmp_path_factory.mktemp("hf-datasets")))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def seeds_file(tmp_path: Path) -> Path:
    rows = [{"id": f"s{i:03d}", "instruction": f"Write function number {i}."} for i in range(10)]
    return write_jsonl(tmp_path / "seeds.jsonl", rows)


# --- a tiny chat model for trainer and rounds tests (nothing downloaded) -------------

# ChatML, written for these tests; like SmolLM2's, it has no {% generation %} markers.
CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

CORPUS = ["def add(a, b):\n    return a + b\n", "Write a Python function that adds two numbers.",
          "system user assistant You are helpful.", "```python\nprint('hello world')\n```",
          "for i in range(10):\n    total += i * 2\n"] * 20


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|im_end|>",
                                   bos_token="<|im_start|>", unk_token="<|endoftext|>")
    fast.chat_template = CHATML
    return fast


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    from helpers.tiny import tiny_llama

    return tiny_llama(tmp_path_factory.mktemp("tiny_llama"), tiny_tokenizer)

"""A tiny random model for the benchmarks' ``--model tiny``.

``tiny_model(path)`` writes ``tests/helpers/tiny.py``'s tiny Llama with the
embedded model's tokenizer to ``path`` and returns it as a string. Its
per-step work is tiny, so what a benchmark times on it is the code around the
model (a trainer's or a featuriser's own overhead), not the model's FLOPs;
its 49k-word LM head is then the largest part of the model.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/helpers (see its __init__)


def tiny_model(path: Path) -> str:
    from helpers.tiny import tiny_llama  # tests/helpers/tiny.py: the one builder
    from transformers import AutoTokenizer

    from synthkit.llm.embedded import embedded_model_dir

    return str(tiny_llama(path, AutoTokenizer.from_pretrained(embedded_model_dir()), max_positions=2048))

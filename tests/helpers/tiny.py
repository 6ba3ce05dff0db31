"""``tiny_llama(path, tokenizer)``: a randomly initialised 2-layer, 64-wide Llama saved with ``tokenizer``.

Its per-step work is tiny, so what a test or benchmark times on it is the code
around the model, not its FLOPs. Seeded (``torch.manual_seed(seed)``), so two
builds with the same tokenizer have the same weights; ``max_positions`` bounds
the sequence length. Returns ``path``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def tiny_llama(path: Path, tokenizer: Any, seed: int = 0, max_positions: int = 512) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions,
                      tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                      pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)

"""A tiny random model for the benchmarks' ``--model tiny``.

``tiny_model(path)`` writes a randomly initialised 2-layer, 64-wide Llama with
the embedded model's tokenizer to ``path`` and returns it as a string. Its
per-step work is tiny, so what a benchmark times on it is the code around the
model (a trainer's or a featuriser's own overhead), not the model's FLOPs;
its 49k-word LM head is then the largest part of the model.
"""

from __future__ import annotations

from pathlib import Path


def tiny_model(path: Path) -> str:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from synthkit.llm.embedded import embedded_model_dir

    tok = AutoTokenizer.from_pretrained(embedded_model_dir())
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)

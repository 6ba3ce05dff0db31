"""CPU smoke test on the embedded model (SmolLM2-135M): a few LoRA steps with
and without IB-FT, then each checkpoint merged and generating through the
transformers backend, as the sampling stages load it."""

from __future__ import annotations

import pytest

from synthkit.train.config import parse_train_config
from synthkit.train.trainer import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedded_dir():
    from synthkit.llm.embedded import embedded_model_dir

    return embedded_model_dir()


def test_mask_on_the_real_template(embedded_dir, make_chat):
    from transformers import AutoTokenizer

    from synthkit.train.data import tokenize_chat

    tok = AutoTokenizer.from_pretrained(embedded_dir)
    msgs = make_chat(0, turns=2)[1:]  # no system turn: SmolLM2's template inserts its own
    enc = tokenize_chat(tok, msgs)
    assert enc["input_ids"] == tok.apply_chat_template(msgs, tokenize=True, return_dict=True)["input_ids"]
    trained = tok.decode([t for t, y in zip(enc["input_ids"], enc["labels"]) if y != -100])
    assert trained == "".join(m["content"] + "<|im_end|>\n" for m in msgs if m["role"] == "assistant")


@pytest.mark.parametrize("ib", [False, True], ids=["lora", "lora+ib"])
def test_embedded_trains_and_checkpoint_generates(embedded_dir, chat_dataset, tmp_path, ib):
    from synthkit.llm.base import LLMConfig, SamplingParams
    from synthkit.llm.factory import make_llm

    cfg = parse_train_config({
        "model": "embedded", "dataset": str(chat_dataset), "output_dir": str(tmp_path / "out"),
        "max_steps": 3, "max_length": 256, "per_device_train_batch_size": 2, "save_steps": 3, "logging_steps": 1,
        "lora": {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"]}, "ib": {"enabled": ib}})
    result = train(cfg)
    (ck,) = result.checkpoints
    assert ck.step == 3 and ck.lr > 0
    llm = make_llm(LLMConfig(backend="transformers", model=str(ck.path), device="cpu", cache=False))  # merged on load
    try:
        [[out]] = llm.generate([[{"role": "user", "content": "Write add(a, b)."}]],
                               SamplingParams(max_tokens=8, temperature=0))
    finally:
        llm.close()
    assert out.tokens > 0 and out.text.strip()

"""The warm-up's defaults: LESS's on a GPU, smaller on a CPU; a field set in the spec wins."""

from __future__ import annotations

import pytest

from synthkit.influence.warmup import WarmupSpec, device_defaults, draw


def test_gpu_defaults_are_less_warmup_lora_and_an_effective_batch_of_32():
    spec = device_defaults(WarmupSpec(), gpu=True)
    lora = spec.lora
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (128, 512, 0.1)
    assert lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert (spec.per_device_train_batch_size, spec.gradient_accumulation_steps) == (1, 32)
    assert spec.max_length == 2048 and spec.bf16 is True
    assert (spec.learning_rate, spec.num_train_epochs, spec.fraction) == (2e-5, 4, 0.05)
    four = device_defaults(WarmupSpec(per_device_train_batch_size=4), gpu=True)
    assert four.per_device_train_batch_size * four.gradient_accumulation_steps == 32   # still 32 rows a step


def test_cpu_defaults_are_smaller_and_set_fields_win():
    spec = device_defaults(WarmupSpec(), gpu=False)
    assert (spec.lora.r, spec.lora.lora_alpha, spec.lora.lora_dropout) == (8, 32, 0.1)
    assert spec.lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert (spec.per_device_train_batch_size, spec.gradient_accumulation_steps, spec.max_length) == (8, 1, 1024)
    assert spec.bf16 is False and spec.warmup_ratio == 0.0   # LESS: 0.03 (docs/methods/less.md says why not)
    assert device_defaults(WarmupSpec(per_device_train_batch_size=4), gpu=False).gradient_accumulation_steps == 1
    mine = WarmupSpec(lora={"r": 4, "target_modules": ["q_proj"]}, gradient_accumulation_steps=3, max_length=64)
    for gpu in (True, False):
        got = device_defaults(mine, gpu=gpu)
        assert (got.lora.r, got.lora.target_modules, got.gradient_accumulation_steps, got.max_length) == (
            4, ["q_proj"], 3, 64)
    with pytest.raises(Exception, match="per_device_train_batch_size"):
        WarmupSpec(per_device_train_batch_size=0)


def test_draw_is_seeded_and_bounded():
    assert draw(100, 0.05, 1, seed=0) == draw(100, 0.05, 1, seed=0) and len(draw(100, 0.05, 1, seed=0)) == 5
    assert len(draw(10, 0.05, 3, seed=0)) == 3 and len(draw(2, 0.05, 3, seed=0)) == 2

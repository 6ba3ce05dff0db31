"""A recipe in TRL's own flat format (what `trl sft --config` reads) trains here."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest
import yaml

from synthkit.errors import ConfigError
from synthkit.train import command
from synthkit.train.checkpoints import list_checkpoints
from synthkit.train.config import parse_train_config


def recipe(model, dataset, out) -> dict:
    """Written as TRL's docs write one: ScriptArguments, SFTConfig and ModelConfig keys, flat."""
    return {"model_name_or_path": str(model), "dataset_name": str(dataset), "dataset_train_split": "train",
            "torch_dtype": "float32", "attn_implementation": "eager",
            "use_peft": True, "lora_r": 2, "lora_alpha": 4, "lora_dropout": 0.0, "lora_target_modules": ["q_proj"],
            "use_dora": True,
            "output_dir": str(out), "learning_rate": 5e-4, "lr_scheduler_type": "constant", "warmup_steps": 0,
            "max_steps": 1, "per_device_train_batch_size": 4, "max_length": 64, "max_grad_norm": 0.5,
            "logging_steps": 1, "report_to": "none", "seed": 3}


def test_every_trl_key_lands_where_synthkit_reads_it():
    cfg = parse_train_config(recipe("m", "d", "o"))
    assert (cfg.model, cfg.dataset, cfg.dataset_split, cfg.dtype, cfg.attn_implementation) == \
        ("m", "d", "train", "float32", "eager")
    assert (cfg.lora.r, cfg.lora.lora_alpha, cfg.lora.lora_dropout, cfg.lora.target_modules, cfg.lora.use_dora) == \
        (2, 4, 0.0, ["q_proj"], True)
    assert cfg.sft == {"max_grad_norm": 0.5} and cfg.warmup_steps == 0 and not cfg.full
    full = parse_train_config({"model_name_or_path": "m", "dataset_name": "d", "use_peft": False, "dtype": "bfloat16"})
    assert full.full and full.lora is None and full.dtype == "bfloat16"


def test_every_model_and_script_argument_of_the_installed_trl_is_read_or_refused_by_name():
    from trl import ModelConfig, ScriptArguments

    from synthkit.train.trl_keys import LORA, TOP, UNSUPPORTED

    own = {"model_revision", "dtype", "attn_implementation", "use_peft"}
    for f in dataclasses.fields(ModelConfig) + dataclasses.fields(ScriptArguments):
        assert f.name in own | set(TOP) | set(LORA) | set(UNSUPPORTED), f.name
        if f.name in UNSUPPORTED and f.default != UNSUPPORTED[f.name][0]:
            pytest.fail(f"{f.name}: TRL's default {f.default!r} would be refused")


@pytest.mark.parametrize("raw, message", [
    ({"dataset": "d", "load_in_4bit": True}, r"^load_in_4bit: quantised loading is not supported"),
    ({"dataset": "d", "r": 8}, r"^r: `r` belongs under `lora:`"),
    ({"dataset": "d", "beta": 0.1}, r"^beta: `beta` belongs under `ib:`"),
    ({"dataset": "d", "eval_strategy": "steps"}, r"^eval_strategy: synthkit sets `eval_strategy` from `eval_fraction`"),
    ({"dataset": "d", "max_grad_norm": 1, "sft": {"max_grad_norm": 2}}, r"^max_grad_norm is set twice"),
    ({"dataset": "d", "lora_r": 8, "lora": {"r": 4}}, r"^lora_r and lora\.r name the same setting"),
    ({"dataset": "d", "use_peft": False, "lora_r": 8}, r"^use_peft: false .* LoRA keys are set: lora_r"),
    ({"dataset": "d", "warmup_steps": 2.5}, r"warmup_steps: 2\.5 is a step count"),
    ({"dataset": "d", "model_init_kwargs": {}}, r"^model_init_kwargs: synthkit sets `model_init_kwargs` from `dtype`"),
    ({"dataset": "d", "dataset_test_split": "validation"}, r"^dataset_test_split: synthkit holds out `eval_fraction`"),
    ({"dataset": "d", "warmup_steps": 2, "warmup_ratio": 0.1}, r"either `warmup_steps` or `warmup_ratio`"),
])
def test_what_cannot_carry_over_fails_naming_the_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_train_config(raw)


def test_an_override_may_use_trls_names():
    cfg = parse_train_config({"dataset": "d", "lora_r": 8}, ["lora_alpha=64", "max_grad_norm=0.3"])
    assert (cfg.lora.r, cfg.lora.lora_alpha, cfg.sft) == (8, 64, {"max_grad_norm": 0.3})


@pytest.mark.slow
def test_a_trl_recipe_file_trains_one_step(tiny_model_dir, chat_dataset, tmp_path, capsys):
    path = tmp_path / "sft_recipe.yaml"
    path.write_text(yaml.safe_dump({**recipe(tiny_model_dir, chat_dataset, tmp_path / "out"),
                                    "env": {"SYNTHKIT_TEST_RECIPE_ENV": "1"}}))
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    assert command.run(parser.parse_args([str(path)])) == 0
    (ck,) = list_checkpoints(tmp_path / "out")
    assert ck.step == 1 and ck.lr == pytest.approx(5e-4)
    adapter = json.loads((ck.path / "adapter_config.json").read_text())
    assert adapter["r"] == 2 and adapter["lora_alpha"] == 4 and adapter["use_dora"] is True
    assert adapter["target_modules"] == ["q_proj"]
    args = json.loads((ck.path / "trainer_state.json").read_text())
    assert args["global_step"] == 1
    import os

    assert os.environ.pop("SYNTHKIT_TEST_RECIPE_ENV") == "1"


def test_the_recipe_in_the_docs_reads_as_documented():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "trainer.md").read_text()
    block = text.split("## TRL recipes", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    cfg = parse_train_config(yaml.safe_load(block))
    assert (cfg.model, cfg.dataset, cfg.dtype, cfg.lora.r, cfg.lora.target_modules) == \
        ("embedded", "out/quickstart", "float32", 16, ["q_proj", "v_proj"])
    assert cfg.sft == {"max_grad_norm": 0.3} and cfg.warmup_steps == 0.03


def test_activation_checkpointing_is_the_gradient_checkpointing_switch():
    assert parse_train_config({"dataset": "d", "activation_checkpointing": True}).gradient_checkpointing

"""The trainer config: TRL's and peft's names, old names as warning aliases,
strict keys, the sft: passthrough, overrides, LoRA xor full."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from synthkit.errors import ConfigError
from synthkit.train.config import TrainConfig, load_train_config, parse_train_config

EXAMPLE = Path(__file__).resolve().parents[2] / "pipelines" / "train_example.yaml"


def test_defaults():
    cfg = parse_train_config({"dataset": "d"})
    assert cfg.model == "embedded" and cfg.lora.r == 16 and not cfg.full and not cfg.ib.enabled
    assert (cfg.lora.lora_alpha, cfg.lora.lora_dropout, cfg.report_to, cfg.resume) == (32, 0.05, "none", "auto")
    # IB-FT defaults are the reference implementation's
    ib = cfg.ib
    assert (ib.dim, ib.beta, ib.gamma, ib.layer, ib.kl_reduction, ib.head, ib.input_norm) == (
        256, 0.2, 0.01, 0.625, "mean", "direct", False)


def test_example_file_holds_exactly_the_defaults():
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # the example speaks the new names only
        cfg = load_train_config(EXAMPLE)
    assert cfg == TrainConfig(dataset="out/quickstart")


def test_a_drafts_key_fails_as_unknown_naming_its_new_name():
    with pytest.raises(ConfigError, match=r"^lr: unknown key \(now: learning_rate\)\. Allowed: model"):
        parse_train_config({"dataset": "d", "lr": 1e-4})
    with pytest.raises(ConfigError, match=r"lora\.alpha: unknown key \(now: lora_alpha\)"):
        parse_train_config({"dataset": "d", "lora": {"alpha": 32}})
    with pytest.raises(ConfigError, match=r"iterations\.train\.grad_accum: unknown key \(now: gradient_accumulation"):
        parse_train_config({"dataset": "d", "grad_accum": 2}, where="iterations.train")
    with pytest.raises(ConfigError, match=r"max_seq_len: unknown key \(now: max_length\)"):
        parse_train_config({"dataset": "d"}, ["max_seq_len=512"])


def test_unknown_key_names_the_field():
    with pytest.raises(ConfigError, match="lerning_rate: unknown key. Allowed: model, dataset"):
        parse_train_config({"dataset": "d", "lerning_rate": 1})
    with pytest.raises(ConfigError, match=r"ib.betta: unknown key. Allowed: enabled, dim, beta"):
        parse_train_config({"dataset": "d", "ib": {"betta": 1}})
    with pytest.raises(ConfigError, match=r"lora.rr: unknown key. Allowed: r, lora_alpha, lora_dropout"):
        parse_train_config({"dataset": "d", "lora": {"rr": 1}})
    with pytest.raises(ConfigError, match="dataset: required key is missing"):
        parse_train_config({})


def test_sft_block_passes_sftconfig_fields_and_refuses_the_rest():
    cfg = parse_train_config({"dataset": "d", "sft": {"max_grad_norm": 0.3, "optim": "adamw_torch"}})
    assert cfg.sft == {"max_grad_norm": 0.3, "optim": "adamw_torch"}
    with pytest.raises(ConfigError, match=r"^sft\.max_grad_nrom: not an SFTConfig field \(trl [0-9.]+\).*"
                                          r"Did you mean: max_grad_norm"):
        parse_train_config({"dataset": "d", "sft": {"max_grad_nrom": 1}})
    with pytest.raises(ConfigError, match=r"sft\.learning_rate: `learning_rate` is a key of the trainer config; "
                                          r"set `learning_rate` instead"):
        parse_train_config({"dataset": "d", "sft": {"learning_rate": 1e-4}})
    with pytest.raises(ConfigError, match=r"iterations\.train\.sft\.save_strategy: `save_strategy` is set by "
                                          r"synthkit from `save_steps`"):
        parse_train_config({"dataset": "d", "sft": {"save_strategy": "no"}}, where="iterations.train")
    with pytest.raises(ConfigError, match=r"sft\.warmup_steps: `warmup_steps` is a key of the trainer config"):
        parse_train_config({"dataset": "d", "sft": {"warmup_steps": 10}})


def test_ib_layer_is_a_fraction_or_a_block_number():
    assert parse_train_config({"dataset": "d"}, ["ib.layer=0.5"]).ib.layer == 0.5
    assert parse_train_config({"dataset": "d"}, ["ib.layer=20"]).ib.layer == 20
    assert isinstance(parse_train_config({"dataset": "d"}, ["ib.layer=1.0"]).ib.layer, float)  # the last block
    with pytest.raises(ConfigError, match=r"ib.layer: .*1.5 is a float, so a fraction of the depth"):
        parse_train_config({"dataset": "d", "ib": {"layer": 1.5}})
    with pytest.raises(ConfigError, match=r"ib.layer: .*0 is the embeddings"):
        parse_train_config({"dataset": "d", "ib": {"layer": 0}})
    with pytest.raises(ConfigError, match=r"ib.kl_reduction: Input should be 'mean' or 'sum'"):
        parse_train_config({"dataset": "d", "ib": {"kl_reduction": "max"}})


def test_overrides_are_yaml_values():
    cfg = parse_train_config({"dataset": "d"}, ["lora.r=4", "ib.enabled=true", "max_steps=7", "learning_rate=1e-5",
                                                "report_to=[tensorboard]", "eval_fraction=0.1"])
    assert (cfg.lora.r, cfg.ib.enabled, cfg.max_steps, cfg.learning_rate) == (4, True, 7, 1e-5)
    assert (cfg.report_to, cfg.eval_fraction) == (["tensorboard"], 0.1)


def test_lora_xor_full():
    cfg = parse_train_config({"dataset": "d", "full": True})
    assert cfg.full and cfg.lora is None
    with pytest.raises(ConfigError, match="^set either `full: true` or a `lora:` block"):
        parse_train_config({"dataset": "d", "full": True, "lora": {"r": 8}})
    with pytest.raises(ConfigError, match="`lora: null` needs `full: true`"):
        parse_train_config({"dataset": "d", "lora": None})


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="train config not found"):
        load_train_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: d\nper_device_train_batch_size: many\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: per_device_train_batch_size: .*integer"):
        load_train_config(bad)

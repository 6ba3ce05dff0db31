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


OLD = {"lr": 1e-4, "epochs": 3, "batch_size": 4, "grad_accum": 2, "max_seq_len": 512, "lr_scheduler": "cosine",
       "lora": {"r": 32, "alpha": 32, "dropout": 0.1}}
NEW = {"learning_rate": 1e-4, "num_train_epochs": 3, "per_device_train_batch_size": 4,
       "gradient_accumulation_steps": 2, "max_length": 512, "lr_scheduler_type": "cosine",
       "lora": {"r": 32, "lora_alpha": 32, "lora_dropout": 0.1}}


def test_old_names_still_work_and_warn_once_each_naming_the_new_key():
    with pytest.warns(FutureWarning) as caught:
        old = parse_train_config({"dataset": "d", **OLD})
    assert old == parse_train_config({"dataset": "d", **NEW})
    messages = sorted(str(w.message) for w in caught if w.category is FutureWarning)
    assert len(messages) == 8 and all("\n" not in m for m in messages)
    assert any(m.startswith("lr is deprecated, use `learning_rate` instead") for m in messages)
    assert any(m.startswith("lora.alpha is deprecated, use `lora.lora_alpha`") for m in messages)
    # Constructed directly (the mode="before" validators), and inside a pipeline (the path prefixed).
    with pytest.warns(FutureWarning, match="lora.dropout is deprecated, use `lora.lora_dropout`"):
        assert TrainConfig(dataset="d", **OLD) == old
    with pytest.warns(FutureWarning, match=r"iterations\.train\.grad_accum is deprecated"):
        parse_train_config({"dataset": "d", "grad_accum": 2}, where="iterations.train")


def test_an_override_by_either_name_replaces_the_files_value():
    with pytest.warns(FutureWarning, match="lr is deprecated"):
        assert parse_train_config({"dataset": "d", "learning_rate": 1e-3}, ["lr=5e-4"]).learning_rate == 5e-4
    with pytest.warns(FutureWarning, match="lr is deprecated"):
        assert parse_train_config({"dataset": "d", "lr": 1e-3}, ["learning_rate=5e-4"]).learning_rate == 5e-4
    with pytest.warns(FutureWarning, match="lora.alpha is deprecated"):
        assert parse_train_config({"dataset": "d"}, ["lora.alpha=8"]).lora.lora_alpha == 8


def test_old_and_new_name_together_is_an_error():
    with pytest.raises(ConfigError, match="`lr` is the deprecated name of `learning_rate`; set only `learning_rate`"):
        parse_train_config({"dataset": "d", "lr": 1, "learning_rate": 2})
    with pytest.raises(ConfigError, match="`lora.alpha` is the deprecated name of `lora.lora_alpha`"):
        parse_train_config({"dataset": "d", "lora": {"alpha": 1, "lora_alpha": 2}})


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

"""The trainer config: strict keys, visible defaults, overrides, LoRA xor full."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthkit.errors import ConfigError
from synthkit.train.config import TrainConfig, load_train_config, parse_train_config

EXAMPLE = Path(__file__).resolve().parents[2] / "pipelines" / "train_example.yaml"


def test_defaults():
    cfg = parse_train_config({"dataset": "d"})
    assert cfg.model == "embedded" and cfg.lora.r == 16 and not cfg.full and not cfg.ib.enabled
    assert (cfg.ib.dim, cfg.ib.beta, cfg.ib.gamma, cfg.ib.layer) == (256, 0.2, 0.01, -1)


def test_example_file_holds_exactly_the_defaults():
    cfg = load_train_config(EXAMPLE)
    assert cfg == TrainConfig(dataset="out/quickstart")


def test_unknown_key_names_the_field():
    with pytest.raises(ConfigError, match="lerning_rate: unknown key. Allowed: model, dataset"):
        parse_train_config({"dataset": "d", "lerning_rate": 1})
    with pytest.raises(ConfigError, match=r"ib.betta: unknown key. Allowed: enabled, dim, beta"):
        parse_train_config({"dataset": "d", "ib": {"betta": 1}})
    with pytest.raises(ConfigError, match=r"lora.rr: unknown key. Allowed: r, alpha, dropout"):  # lora: X | None
        parse_train_config({"dataset": "d", "lora": {"rr": 1}})
    with pytest.raises(ConfigError, match="dataset: required key is missing"):
        parse_train_config({})


def test_overrides_are_yaml_values():
    cfg = parse_train_config({"dataset": "d"}, ["lora.r=4", "ib.enabled=true", "max_steps=7", "lr=1e-5"])
    assert (cfg.lora.r, cfg.ib.enabled, cfg.max_steps, cfg.lr) == (4, True, 7, 1e-5)


def test_lora_xor_full():
    cfg = parse_train_config({"dataset": "d", "full": True})
    assert cfg.full and cfg.lora is None
    with pytest.raises(ConfigError, match="either `full: true` or a `lora:` block"):
        parse_train_config({"dataset": "d", "full": True, "lora": {"r": 8}})
    with pytest.raises(ConfigError, match="`lora: null` needs `full: true`"):
        parse_train_config({"dataset": "d", "lora": None})


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="train config not found"):
        load_train_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: d\nbatch_size: many\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: batch_size: .*integer"):
        load_train_config(bad)

"""`synthkit train CONFIG.yaml -o key=value` through the CLI's own parser."""

from __future__ import annotations

import argparse

import pytest
import yaml

from synthkit.errors import ConfigError
from synthkit.train import command
from synthkit.train.checkpoints import list_checkpoints


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    command.add_arguments(p)
    return p.parse_args(argv)


def test_run_trains_with_overrides(tiny_model_dir, chat_dataset, tmp_path, capsys):
    cfg = tmp_path / "train.yaml"
    cfg.write_text(yaml.safe_dump({"model": str(tiny_model_dir), "dataset": str(chat_dataset),
                                   "output_dir": str(tmp_path / "out"), "per_device_train_batch_size": 4,
                                   "max_length": 64, "lora": {"r": 2, "target_modules": ["q_proj"]}}))
    assert command.run(parse([str(cfg), "-o", "max_steps=1", "-o", "learning_rate=5e-4",
                              "-o", "lr_scheduler_type=constant", "-o", "warmup_ratio=0"])) == 0
    (ck,) = list_checkpoints(tmp_path / "out")
    assert ck.step == 1 and ck.lr == pytest.approx(5e-4)
    assert "done: 1 checkpoint(s)" in capsys.readouterr().out
    saved = yaml.safe_load((tmp_path / "out" / "synthkit_train.yaml").read_text())
    assert saved["max_steps"] == 1 and saved["lora"]["r"] == 2      # the config as trained, overrides applied


def test_bad_override_is_a_config_error(tmp_path):
    cfg = tmp_path / "train.yaml"
    cfg.write_text("dataset: d\n")
    with pytest.raises(ConfigError, match="train.yaml: lora.r: .*greater than or equal to 1"):
        command.run(parse([str(cfg), "-o", "lora.r=0"]))


def test_importing_the_command_stays_light():
    import subprocess
    import sys

    code = "import sys, synthkit.train.command; print(any(m in sys.modules for m in ('torch', 'trl', 'datasets')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

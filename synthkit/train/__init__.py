"""The bundled SFT trainer (TRL + peft) with the optional IB-FT regulariser.

    from synthkit.train import TrainConfig, train, list_checkpoints, merge_or_load
    result = train(TrainConfig(dataset="out/quickstart", max_steps=20))
    model_dir = merge_or_load(result.checkpoints[-1].path)   # -> LLMConfig(model=str(model_dir))

Names resolve lazily, so importing this package loads neither torch nor trl.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "TrainConfig": "synthkit.train.config", "parse_train_config": "synthkit.train.config",
    "load_train_config": "synthkit.train.config",
    "CheckpointInfo": "synthkit.train.checkpoints", "list_checkpoints": "synthkit.train.checkpoints",
    "merge_or_load": "synthkit.llm.lora",
    "train": "synthkit.train.trainer", "TrainResult": "synthkit.train.trainer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'synthkit.train' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)

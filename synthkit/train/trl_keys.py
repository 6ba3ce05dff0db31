"""TRL's flat recipe keys, translated into synthkit's trainer config.

``from_trl(raw)`` turns a ``trl sft --config`` mapping (``ScriptArguments``,
``SFTConfig``, ``ModelConfig`` fields) into a ``TrainConfig`` mapping:

- ``model_name_or_path`` -> ``model``; ``model_revision``, ``attn_implementation``,
  ``dtype`` (or ``torch_dtype``) keep their names; ``use_peft: false`` -> ``full:
  true``; ``lora_*``, ``use_rslora``, ``use_dora`` -> ``lora.*``;
- ``dataset_name`` -> ``dataset``, ``dataset_train_split`` -> ``dataset_split``;
- any other ``SFTConfig`` field -> ``sft:`` (checked by ``check_sft``).

Errors naming the key, never a silent change: quantised loading, ``dataset_config``,
streaming, a test split, a task type other than ``CAUSAL_LM``, a section's key at
the top level. LoRA is the default here. Details: docs/trainer.md, "TRL recipes".
"""

from __future__ import annotations

import dataclasses
from typing import Any

from synthkit.errors import ConfigError

TOP = {"model_name_or_path": "model", "dataset_name": "dataset", "dataset_train_split": "dataset_split",
       "torch_dtype": "dtype", "activation_checkpointing": "gradient_checkpointing"}
LORA = {"lora_r": "r", "lora_alpha": "lora_alpha", "lora_dropout": "lora_dropout",
        "lora_target_modules": "target_modules", "lora_modules_to_save": "modules_to_save",
        "use_rslora": "use_rslora", "use_dora": "use_dora"}
# TRL keys synthkit cannot honour -> (the value that means "off", why)
UNSUPPORTED = {
    "load_in_8bit": (False, "quantised loading is not supported by synthkit train"),
    "load_in_4bit": (False, "quantised loading is not supported by synthkit train"),
    "use_bnb_nested_quant": (False, "quantised loading is not supported by synthkit train"),
    "bnb_4bit_quant_type": ("nf4", "quantised loading is not supported by synthkit train"),
    "bnb_4bit_quant_storage": (None, "quantised loading is not supported by synthkit train"),
    "dataset_config": (None, "synthkit train reads a saved synthkit dataset (or a Hub id) with its one config"),
    "dataset_test_split": ("test", "synthkit holds out `eval_fraction` of the tasks for evaluation"),
    "dataset_streaming": (False, "streaming is not supported; the dataset is loaded from disk"),
    "ignore_bias_buffers": (False, "not supported by synthkit train"),
    "lora_task_type": ("CAUSAL_LM", "synthkit trains causal LMs only"),
    "lora_target_parameters": (None, "not supported by synthkit train; use `lora_target_modules`"),
}


def from_trl(raw: dict[str, Any], where: str, own: set[str], sections: dict[str, set[str]],
             derived: dict[str, str]) -> dict[str, Any]:
    """``raw`` with TRL's names put where ``TrainConfig`` reads them. ``own``: the
    TrainConfig field names; ``sections``: section name -> its field names (for
    the error on a section key at the top level); ``derived``: SFTConfig field ->
    the key synthkit sets it from. ``where``: key path prefix."""
    if not isinstance(raw, dict):
        return raw
    out = dict(raw)
    for key, (off, why) in UNSUPPORTED.items():
        if key in out:
            if out[key] != off:
                raise ConfigError(f"{where}{key}: {why} (TRL's `{key}: {off!r}` is accepted)")
            del out[key]
    for old, new in TOP.items():
        if old in out:
            _move(out, old, new, where)
    _lora(out, where)
    sft_fields = _sft_fields() if any(k not in own for k in out) else set()
    for key in [k for k in out if k not in own]:
        home = [name for name, keys in sections.items() if key in keys]
        if key in derived and derived[key] != key:
            raise ConfigError(f"{where}{key}: synthkit sets `{key}` from `{derived[key]}`; set `{where}{derived[key]}`")
        if key in sft_fields:
            sft = out.setdefault("sft", {})
            if not isinstance(sft, dict):
                raise ConfigError(f"{where}sft: expected a mapping of SFTConfig fields")
            if key in sft:
                raise ConfigError(f"{where}{key} is set twice: at the top level and under sft:; keep one")
            sft[key] = out.pop(key)
        elif home:
            raise ConfigError(f"{where}{key}: `{key}` belongs under `{home[0]}:` "
                              f"(write `{home[0]}: {{{key}: ...}}`)")
    return out


def _move(out: dict[str, Any], old: str, new: str, where: str) -> None:
    if new in out:
        raise ConfigError(f"{where}{old} and {where}{new} name the same setting; set only one")
    out[new] = out.pop(old)


def _lora(out: dict[str, Any], where: str) -> None:
    """``use_peft`` and the ``lora_*`` keys -> ``full`` and the ``lora:`` block."""
    keys = {k: out.pop(k) for k in list(out) if k in LORA}
    use_peft = out.pop("use_peft", None)
    if use_peft is False:
        if keys:
            raise ConfigError(f"{where}use_peft: false (full fine-tuning) but LoRA keys are set: {', '.join(keys)}")
        if "lora" in out and out["lora"] is not None:
            raise ConfigError(f"{where}use_peft: false (full fine-tuning) but a `lora:` block is set")
        out["full"], out["lora"] = True, None
        return
    if not keys:
        return
    lora = out.get("lora") or {}
    if not isinstance(lora, dict):
        raise ConfigError(f"{where}lora: expected a mapping of LoRA keys")
    for key, value in keys.items():
        if LORA[key] in lora:
            raise ConfigError(f"{where}{key} and {where}lora.{LORA[key]} name the same setting; set only one")
        lora[LORA[key]] = value
    out["lora"] = lora


def _sft_fields() -> set[str]:
    import trl

    return {f.name for f in dataclasses.fields(trl.SFTConfig) if f.init}

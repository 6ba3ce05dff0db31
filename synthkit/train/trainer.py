"""The bundled SFT trainer: TRL's SFTTrainer + peft, on a synthkit dataset.

``train(config) -> TrainResult`` loads the model (``embedded`` resolves to the
packaged SmolLM2), tokenises the dataset's ``messages`` column with an
assistant-only loss mask (synthkit/train/data.py), and runs TRL's
``SFTTrainer`` with LoRA or full fine-tuning, optional packing, bf16 and
gradient checkpointing. With ``ib.enabled`` the loss gains the IB-FT terms
(synthkit/train/ib.py) through a small ``compute_loss`` override; without it
the trainer is TRL's, unchanged.

Checkpoints are written every ``save_steps`` optimizer steps (and at the end),
or at each epoch's end, with the optimizer state and a
``synthkit_checkpoint.json`` holding the step, epoch and learning rate
(synthkit/train/checkpoints.py). ``output_dir`` must not already hold
checkpoints unless ``overwrite: true``, so a run's checkpoints are never mixed
with an older run's.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from transformers import TrainerCallback
from trl import SFTConfig, SFTTrainer

from synthkit.errors import ConfigError
from synthkit.train.checkpoints import CheckpointInfo, checkpoint_dirs, read_checkpoint, write_meta
from synthkit.train.config import IBSpec, TrainConfig

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    output_dir: Path                 # where the checkpoints are
    checkpoints: list[CheckpointInfo]  # the ones this run wrote, oldest first
    metrics: dict[str, float]        # transformers' train() metrics (runtime, loss, ...)


class SynthkitSFTTrainer(SFTTrainer):
    """SFTTrainer plus the optional IB-FT loss terms, logged as ce, kl and ce_bottleneck."""

    def __init__(self, *args: Any, ib: IBSpec | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ib = ib if ib is not None and ib.enabled else None
        if self.ib is not None:
            from synthkit.train.ib import attach

            self.bottleneck, self.tap, self.final_norm = attach(self.model, self.ib.layer, self.ib.dim)

    def create_optimizer(self, model: Any = None) -> Any:
        optimizer = super().create_optimizer(model)
        if self.ib is not None and not getattr(self, "_ib_group_added", False):
            # The bottleneck is not part of the model (so it is never saved with it) and gets its own group.
            optimizer.add_param_group({"params": list(self.bottleneck.parameters()), "weight_decay": 0.0})
            self._ib_group_added = True
        return optimizer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.ib is None or not model.training:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        from synthkit.train.ib import ib_terms

        self.tap.armed = True
        try:
            ce = super().compute_loss(model, inputs, False, num_items_in_batch)
        finally:
            hidden = self.tap.take()
        terms = ib_terms(self.bottleneck, hidden, inputs["labels"], self.final_norm,
                         self.model.get_output_embeddings(), num_items_in_batch)
        loss = ce + self.ib.beta * (terms["kl"] + self.ib.gamma * terms["ce_bottleneck"])
        # With num_items_in_batch each micro-batch holds its share of the step's mean; scale back for the logs.
        scale = self.current_gradient_accumulation_steps if num_items_in_batch is not None else 1
        for name, value in (("ce", ce), *terms.items()):
            self._metrics["train"][name].append(float(value.detach()) * scale)
        return (loss, None) if return_outputs else loss


class CheckpointMeta(TrainerCallback):
    """Writes synthkit_checkpoint.json into each checkpoint and remembers them."""

    def __init__(self) -> None:
        self.lrs: list[float] = []
        self.saved: list[Path] = []
        self.trainable: list[str] | None = None

    def on_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        # Called after optimizer.step() and before the scheduler's: this is the lr the step used.
        self.lrs.append(float(optimizer.param_groups[0]["lr"]))

    def on_save(self, args, state, control, model=None, optimizer=None, **kwargs):
        if self.trainable is None:
            names = {id(p): n for n, p in model.named_parameters()}
            self.trainable = [names[id(p)] for g in optimizer.param_groups for p in g["params"] if id(p) in names]
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero:
            write_meta(ckpt, state.global_step, float(state.epoch or 0.0), self.lrs, self.trainable)
        self.saved.append(ckpt)
        self.lrs = []


def load_model(cfg: TrainConfig) -> tuple[Any, Any]:
    """(model, tokenizer) for ``cfg.model``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from synthkit.llm.embedded import resolve_model

    path = resolve_model(cfg.model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if cfg.bf16 else torch.float32)
    except (OSError, ValueError) as e:
        raise ConfigError(f"model: cannot load {cfg.model!r} as a causal LM ({e})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def sft_config(cfg: TrainConfig, **extra: Any) -> SFTConfig:
    """TRL's SFTConfig for ``cfg``: every value set here, none left to TRL's
    own defaults that differ from transformers' (bf16, gradient checkpointing)."""
    args = dict(
        output_dir=cfg.output_dir, learning_rate=cfg.lr, lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio, weight_decay=cfg.weight_decay,
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        max_length=cfg.max_seq_len, packing=cfg.packing, seed=cfg.seed,
        save_strategy="steps" if cfg.save_steps else "epoch", save_steps=cfg.save_steps or 500,
        bf16=cfg.bf16, fp16=False, gradient_checkpointing=cfg.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False}, logging_steps=cfg.logging_steps,
        report_to="none", save_only_model=False,
    )
    args.update(extra)
    return SFTConfig(**args)


def peft_config(cfg: TrainConfig) -> Any:
    if cfg.lora is None:
        return None
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=cfg.lora.target_modules, task_type="CAUSAL_LM")


def build_trainer(cfg: TrainConfig, **sft_overrides: Any) -> tuple[SynthkitSFTTrainer, CheckpointMeta]:
    """The configured trainer (dataset loaded and tokenised), not yet trained."""
    from synthkit.train.data import load_messages, prepare_dataset

    raw = load_messages(cfg.dataset, cfg.dataset_split)  # before the model: a bad dataset fails fast
    model, tokenizer = load_model(cfg)
    dataset = prepare_dataset(raw, tokenizer, cfg.dataset)
    meta = CheckpointMeta()
    trainer = SynthkitSFTTrainer(
        model=model, args=sft_config(cfg, **sft_overrides), train_dataset=dataset, processing_class=tokenizer,
        peft_config=peft_config(cfg), callbacks=[meta], ib=cfg.ib)
    dropped = len(dataset) - len(trainer.train_dataset)
    if dropped > 0 and not cfg.packing:  # TRL drops rows whose assistant turns all fall past max_seq_len
        log.warning("%d of %d rows have no assistant token within max_seq_len=%d and are not trained on",
                    dropped, len(dataset), cfg.max_seq_len)
    return trainer, meta


def train(cfg: TrainConfig, overwrite: bool = False) -> TrainResult:
    """Fine-tune ``cfg.model`` on ``cfg.dataset``; returns the checkpoints written.
    ``overwrite`` deletes earlier ``checkpoint-*`` folders in ``cfg.output_dir`` first."""
    out = Path(cfg.output_dir)
    old = checkpoint_dirs(out)
    if old and not overwrite:
        raise ConfigError(f"output_dir: {out} already holds {len(old)} checkpoint(s) of an earlier run "
                          f"({old[0].name}, ...). Choose another output_dir or pass --overwrite")
    for d in old:
        shutil.rmtree(d)
    trainer, meta = build_trainer(cfg)
    out.mkdir(parents=True, exist_ok=True)
    (out / "synthkit_train.yaml").write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
    result = trainer.train()
    if trainer.ib is not None:
        trainer.tap.remove()
    return TrainResult(output_dir=out, checkpoints=[read_checkpoint(p) for p in meta.saved],
                       metrics=dict(result.metrics))

"""The bundled SFT trainer: TRL's SFTTrainer + peft, on a synthkit dataset.

``train(config) -> TrainResult`` loads the model (``embedded``: the packaged SmolLM2),
tokenises ``messages`` with an assistant-only loss mask (``data.py``) and runs TRL's
``SFTTrainer`` with LoRA or full fine-tuning, optional packing, bf16 and gradient
checkpointing. ``ib.enabled`` adds the IB-FT loss terms (``ib.py``) through a
``compute_loss`` override. ``eval_fraction`` holds out tasks (``split_by_task``).

Checkpoints every ``save_steps`` (and at the end) or per epoch, with optimizer,
scheduler and RNG state and ``synthkit_checkpoint.json`` (``checkpoints.py``). An
``output_dir`` holding checkpoints is decided by ``resume.py``. Details: docs/trainer.md.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from transformers import TrainerCallback
from trl import SFTConfig, SFTTrainer

from synthkit.errors import ConfigError
from synthkit.train.checkpoints import CheckpointInfo, list_checkpoints, write_meta
from synthkit.train.config import IBSpec, TrainConfig, check_sft
from synthkit.train.resume import CONFIG_FILE, finished, resume_point, run_fingerprint

log = logging.getLogger(__name__)

@dataclass
class TrainResult:
    output_dir: Path                 # where the checkpoints are
    checkpoints: list[CheckpointInfo]  # the run's checkpoints, oldest first (with a resume: before the kill too)
    metrics: dict[str, float]        # transformers' train() metrics of this session (runtime, loss, ...)


class SynthkitSFTTrainer(SFTTrainer):
    """SFTTrainer plus the optional IB-FT loss terms, logged as ce, kl and ce_bottleneck."""

    def __init__(self, *args: Any, ib: IBSpec | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ib = ib if ib is not None and ib.enabled else None
        self.bottleneck = None
        if self.ib is not None:
            from synthkit.train.ib import attach

            self.bottleneck, self.tap, self.ib_head = attach(self.model, self.ib)
            self.add_callback(_ZeroBottleneckGrad(self.bottleneck))
            self._clip_bottleneck_too()

    def _clip_bottleneck_too(self) -> None:
        """Make transformers' gradient clipping (``accelerator.clip_grad_norm_(model.parameters(), max_norm)``)
        see the bottleneck's parameters as well: one norm over model and bottleneck, as the reference, whose
        bottleneck is part of the clipped module, has it. The reported grad_norm includes them too."""
        clip, extra = self.accelerator.clip_grad_norm_, list(self.bottleneck.parameters())

        def clip_grad_norm_(parameters, max_norm, *args, **kwargs):
            return clip([*parameters, *extra], max_norm, *args, **kwargs)

        self.accelerator.clip_grad_norm_ = clip_grad_norm_

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
        terms = ib_terms(self.bottleneck, hidden, inputs["labels"], self.ib_head, inputs.get("attention_mask"),
                         self.ib.kl_reduction)
        kl, ce_b = terms["kl"], terms["ce_bottleneck"]
        steps = 1
        if num_items_in_batch is not None:
            # TRL then divides the CE's token sum by the tokens of the whole accumulated step (of every rank, times
            # the ranks DDP averages over): per-token means get the same normaliser, per-micro-batch means
            # are averaged over the accumulation steps (as TRL does with the MoE aux loss).
            steps = self.current_gradient_accumulation_steps
            ranks = self.accelerator.num_processes // getattr(self, "get_tp_size", lambda: 1)()
            per_token = terms["n_labelled"] / torch.as_tensor(num_items_in_batch, device=ce_b.device)
            per_token = per_token * (ranks if self.args.average_tokens_across_devices else 1)
            ce_b = ce_b * per_token
            kl = kl * per_token if self.ib.kl_reduction == "sum" else kl / steps
        loss = ce + self.ib.beta * (kl + self.ib.gamma * ce_b)
        # Logged as micro-batch means (the CE's share of the step scaled back), so loss ~ ce + beta*(kl + gamma*ce_b).
        for name, value in (("ce", ce * steps), ("kl", terms["kl"]), ("ce_bottleneck", terms["ce_bottleneck"])):
            self._metrics["train"][name].append(float(value.detach()))
        return (loss, None) if return_outputs else loss


class _ZeroBottleneckGrad(TrainerCallback):
    """transformers zeroes the model's gradients after each optimizer step; the
    bottleneck is not part of the model, so its own are zeroed here (else they
    would add up over every step)."""

    def __init__(self, bottleneck: Any) -> None:
        self.bottleneck = bottleneck

    def on_optimizer_step(self, args, state, control, **kwargs):
        self.bottleneck.zero_grad(set_to_none=True)


class CheckpointMeta(TrainerCallback):
    """Writes the bottleneck (IB-FT) and then synthkit_checkpoint.json into each checkpoint."""

    def __init__(self, fingerprint: str = "") -> None:
        self.fingerprint = fingerprint
        self.bottleneck = None           # set by build_trainer for an IB-FT run
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
            if self.bottleneck is not None:
                from synthkit.train.ib import save_bottleneck

                save_bottleneck(self.bottleneck, ckpt)
            evals = [e["eval_loss"] for e in state.log_history if "eval_loss" in e and e.get("step") == state.global_step]
            write_meta(ckpt, state.global_step, float(state.epoch or 0.0), self.lrs, self.trainable,
                       self.fingerprint, evals[-1] if evals else None)  # last: it marks the checkpoint complete
        self.saved.append(ckpt)
        self.lrs = []


def load_model(cfg: TrainConfig) -> tuple[Any, Any]:
    """(model, tokenizer) for ``cfg.model``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from synthkit.llm.embedded import resolve_model

    path = resolve_model(cfg.model)
    dtype: Any = cfg.dtype if cfg.dtype == "auto" else getattr(torch, cfg.dtype) if cfg.dtype else (
        torch.bfloat16 if cfg.bf16 else torch.float32)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if cfg.attn_implementation:
        kwargs["attn_implementation"] = cfg.attn_implementation
    if cfg.model_revision:
        kwargs["revision"] = cfg.model_revision
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **({"revision": cfg.model_revision} if cfg.model_revision else {}))
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as e:
        raise ConfigError(f"model: cannot load {cfg.model!r} as a causal LM ({e})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _version_args(cfg: TrainConfig, names: set[str] | None = None) -> dict[str, Any]:
    """The arguments whose name depends on the transformers version.

    Warm-up: the installed SFTConfig's fields decide. Where it has
    ``warmup_ratio`` (transformers before 5.2), ``warmup_steps`` is a step
    count and a ratio goes to ``warmup_ratio``; where it has only
    ``warmup_steps`` (installed here), that field takes both (below 1: a
    ratio of the steps). ``cfg.warmup_steps``, when set, replaces
    ``cfg.warmup_ratio``.
    Checkpointing: transformers 5.24 renamed ``gradient_checkpointing`` to
    ``activation_checkpointing`` (the old name warns)."""
    names = {f.name for f in dataclasses.fields(SFTConfig)} if names is None else names
    ratio = cfg.warmup_ratio if cfg.warmup_steps is None else cfg.warmup_steps if cfg.warmup_steps < 1 else None
    if ratio is None:
        args: dict[str, Any] = {"warmup_steps": int(cfg.warmup_steps)}
    elif "warmup_ratio" in names:
        args = {"warmup_ratio": ratio}
    else:
        args = {"warmup_steps": ratio}
    ac = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    args.update({ac: cfg.gradient_checkpointing, f"{ac}_kwargs": {"use_reentrant": False}})
    return args


def sft_config(cfg: TrainConfig, evaluate: bool = False, **extra: Any) -> SFTConfig:
    """TRL's SFTConfig for ``cfg``: every value set here, none left to TRL's
    own defaults that differ from transformers' (bf16, gradient checkpointing),
    then ``cfg.sft`` passed through, then ``extra`` (for the benchmark)."""
    check_sft(cfg.sft)
    strategy = "steps" if cfg.save_steps else "epoch"
    args = dict(
        output_dir=cfg.output_dir, learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler_type,
        weight_decay=cfg.weight_decay, num_train_epochs=cfg.num_train_epochs, max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, max_length=cfg.max_length,
        packing=cfg.packing, seed=cfg.seed, save_strategy=strategy, save_steps=cfg.save_steps or 500,
        bf16=cfg.bf16, fp16=False, logging_steps=cfg.logging_steps, report_to=cfg.report_to,
        save_only_model=False,  # resume needs the optimizer, scheduler and RNG state
        eval_strategy=strategy if evaluate else "no", per_device_eval_batch_size=cfg.per_device_train_batch_size,
        **_version_args(cfg))
    if evaluate and cfg.save_steps:
        args["eval_steps"] = cfg.save_steps
    args.update(cfg.sft)
    args.update(extra)
    try:
        return SFTConfig(**args)
    except (TypeError, ValueError) as e:
        what = f"sft ({', '.join(cfg.sft)})" if cfg.sft else "trainer config"
        raise ConfigError(f"{what}: TRL's SFTConfig refused it: {e}") from None


def peft_config(cfg: TrainConfig) -> Any:
    if cfg.lora is None:
        return None
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.lora_alpha, lora_dropout=cfg.lora.lora_dropout,
                      target_modules=cfg.lora.target_modules, modules_to_save=cfg.lora.modules_to_save,
                      use_rslora=cfg.lora.use_rslora, use_dora=cfg.lora.use_dora, task_type="CAUSAL_LM")


def build_trainer(cfg: TrainConfig, source: Any = None, fingerprint: str = "",
                  **sft_overrides: Any) -> tuple[SynthkitSFTTrainer, CheckpointMeta]:
    """The configured trainer (dataset loaded, split and tokenised), not yet trained.
    ``source``: the dataset as ``load_source`` returned it (loaded here when None)."""
    from transformers import set_seed

    from synthkit.train.data import load_source, prepare_dataset, split_by_task

    if source is None:
        source = load_source(cfg.dataset, cfg.dataset_split)  # before the model: a bad dataset fails fast
    train_raw, eval_raw = split_by_task(source, cfg.eval_fraction, cfg.seed, cfg.dataset)
    set_seed(cfg.seed)  # the LoRA init happens in SFTTrainer before its own set_seed
    model, tokenizer = load_model(cfg)
    dataset = prepare_dataset(train_raw, tokenizer, cfg.dataset)
    eval_set = prepare_dataset(eval_raw, tokenizer, cfg.dataset) if eval_raw is not None else None
    meta = CheckpointMeta(fingerprint)
    trainer = SynthkitSFTTrainer(
        model=model, args=sft_config(cfg, eval_set is not None, **sft_overrides), train_dataset=dataset,
        eval_dataset=eval_set, processing_class=tokenizer, peft_config=peft_config(cfg), callbacks=[meta], ib=cfg.ib)
    meta.bottleneck = trainer.bottleneck
    dropped = len(dataset) - len(trainer.train_dataset)
    if dropped > 0 and not cfg.packing:  # TRL drops rows whose assistant turns all fall past max_length
        log.warning("%d of %d rows have no assistant token within max_length=%d and are not trained on",
                    dropped, len(dataset), cfg.max_length)
    return trainer, meta


def train(cfg: TrainConfig, overwrite: bool = False, data_fingerprint: str | None = None) -> TrainResult:
    """Fine-tune ``cfg.model`` on ``cfg.dataset``, or resume the run a kill
    interrupted; returns the run's checkpoints. ``overwrite`` deletes earlier
    ``checkpoint-*`` folders in ``cfg.output_dir`` first. ``data_fingerprint``
    names the data when the caller knows it better than datasets' fingerprint."""
    from synthkit.train.data import load_source

    source = load_source(cfg.dataset, cfg.dataset_split)  # before anything is deleted: a bad dataset fails fast
    # datasets' own content fingerprint: stable across loads of one saved folder, new when it is rewritten.
    fingerprint = run_fingerprint(cfg, data_fingerprint or source._fingerprint)
    start = resume_point(cfg, fingerprint, overwrite)
    out = Path(cfg.output_dir)
    if start is not None and finished(start):
        # transformers would train one more step past max_steps when resumed from the final checkpoint
        log.info("%s: this run already finished; nothing left to train", start)
        return TrainResult(output_dir=out, checkpoints=list_checkpoints(out), metrics={})
    trainer, _ = build_trainer(cfg, source, fingerprint)
    out.mkdir(parents=True, exist_ok=True)
    if start is None:
        (out / CONFIG_FILE).write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
    elif trainer.ib is not None:
        from synthkit.train.ib import load_bottleneck

        load_bottleneck(trainer.bottleneck, start)
    try:
        result = trainer.train(resume_from_checkpoint=str(start) if start else None)
    finally:
        if trainer.ib is not None:
            trainer.tap.remove()
    return TrainResult(output_dir=out, checkpoints=list_checkpoints(out), metrics=dict(result.metrics))

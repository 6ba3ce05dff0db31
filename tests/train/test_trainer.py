"""The trainer end to end on a tiny random Llama: checkpoints, their metadata,
the optimizer state, LoRA merge, full fine-tuning, IB-FT, packing, warm-up,
the sft: passthrough, the held-out split, and what an output_dir with
checkpoints in it means (resume, or an error). The SIGKILL resume test is in
test_resume.py."""

from __future__ import annotations

import json

import pytest

from synthkit.errors import ConfigError, DataError
from synthkit.llm.embedded import resolve_model
from synthkit.train.checkpoints import META, list_checkpoints, merge_or_load
from synthkit.train.config import parse_train_config
from synthkit.train.trainer import train


def config(tiny_model_dir, dataset, out, **kw):
    raw = {"model": str(tiny_model_dir), "dataset": str(dataset), "output_dir": str(out),
           "per_device_train_batch_size": 2, "max_length": 128, "learning_rate": 1e-3,
           "lr_scheduler_type": "constant", "warmup_ratio": 0.0, "logging_steps": 1,
           "lora": {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]}}
    raw.update(kw)
    return parse_train_config(raw)


def generate(path, prompt="def add"):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    ids = tok(prompt, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id)
    return out.shape[1] - ids["input_ids"].shape[1]


def test_lora_checkpoints_carry_step_lr_and_optimizer_state(tiny_model_dir, chat_dataset, tmp_path):
    cfg = config(tiny_model_dir, chat_dataset, tmp_path / "out", max_steps=3, save_steps=2)
    result = train(cfg)
    assert [c.step for c in result.checkpoints] == [2, 3]        # every 2 steps, and at the end
    assert list_checkpoints(tmp_path / "out") == result.checkpoints
    for c in result.checkpoints:
        assert c.lr == pytest.approx(1e-3)                        # constant schedule: the mean is the lr
        assert (c.path / "optimizer.pt").is_file() and (c.path / "adapter_config.json").is_file()
        meta = json.loads((c.path / META).read_text())
        assert meta["trainable"] and all("lora_" in n for n in meta["trainable"])
    # optimizer.pt's state[i] belongs to trainable[i]: the shapes line up with the saved adapter's tensors.
    import torch
    from safetensors.torch import load_file

    ck = result.checkpoints[-1].path
    state = torch.load(ck / "optimizer.pt", weights_only=True)["state"]
    adapter = load_file(str(ck / "adapter_model.safetensors"))
    names = json.loads((ck / META).read_text())["trainable"]
    assert len(state) == len(names) == len(adapter)
    for i, n in enumerate(names):
        saved = adapter[n.replace(".default.weight", ".weight")]
        assert state[i]["exp_avg"].shape == saved.shape
    assert result.checkpoints[0].epoch == pytest.approx(0.5)     # 8 rows, batch 2: 4 steps an epoch
    merged = merge_or_load(result.checkpoints[-1].path)
    assert merged == result.checkpoints[-1].path / "merged" and generate(merged) > 0
    assert resolve_model(str(result.checkpoints[-1].path)) == str(merged)  # model: <lora checkpoint> works
    stamp = (merged / "synthkit_adapter.json").stat().st_mtime_ns
    assert merge_or_load(result.checkpoints[-1].path) == merged   # merged once, reused
    assert (merged / "synthkit_adapter.json").stat().st_mtime_ns == stamp


def test_an_adapter_retrained_in_place_is_merged_again(tiny_model_dir, chat_dataset, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    (ck,) = train(config(tiny_model_dir, chat_dataset, tmp_path / "out", max_steps=1)).checkpoints
    merged = merge_or_load(ck.path)
    before = load_file(str(merged / "model.safetensors"))
    weights = ck.path / "adapter_model.safetensors"
    adapter = load_file(str(weights))
    save_file({k: torch.full_like(v, 0.5) for k, v in adapter.items()}, str(weights))  # new weights, same size
    assert merge_or_load(ck.path) == merged
    after = load_file(str(merged / "model.safetensors"))
    changed = [k for k in before if "v_proj" in k and not torch.equal(before[k], after[k])]
    assert changed, "the merged model still holds the old adapter's weights"
    assert not [p for p in ck.path.iterdir() if p.name.startswith(".merged-")]


def test_epoch_saves_and_a_decaying_lr_is_averaged(tiny_model_dir, chat_dataset, tmp_path):
    cfg = config(tiny_model_dir, chat_dataset, tmp_path / "out", num_train_epochs=2, lr_scheduler_type="linear",
                 per_device_train_batch_size=4)
    cks = train(cfg).checkpoints
    assert [(c.step, c.epoch) for c in cks] == [(2, 1.0), (4, 2.0)]
    # linear decay from 1e-3 over 4 steps: 1e-3, 7.5e-4 | 5e-4, 2.5e-4
    assert cks[0].lr == pytest.approx(8.75e-4) and cks[1].lr == pytest.approx(3.75e-4)
    assert cks[1].last_lr == pytest.approx(2.5e-4)


def test_full_fine_tuning_checkpoint_is_the_model(tiny_model_dir, chat_dataset, tmp_path):
    cfg = config(tiny_model_dir, chat_dataset, tmp_path / "out", max_steps=1, full=True, lora=None)
    (ck,) = train(cfg).checkpoints
    assert (ck.path / "config.json").is_file() and not (ck.path / "adapter_config.json").exists()
    assert merge_or_load(ck.path) == ck.path and generate(ck.path) > 0


def test_warmup_ratio_is_a_ratio_of_the_steps(tiny_model_dir, chat_dataset, tmp_path):
    # 4 steps, ratio 0.5: 2 warm-up steps (lr 0, then half), then linear decay over the other 2.
    cfg = config(tiny_model_dir, chat_dataset, tmp_path / "out", max_steps=4, save_steps=1, warmup_ratio=0.5,
                 lr_scheduler_type="linear")
    assert [c.lr for c in train(cfg).checkpoints] == pytest.approx([0.0, 5e-4, 1e-3, 5e-4])


OLD_TRL = {"warmup_ratio", "warmup_steps", "gradient_checkpointing"}  # SFTConfig before transformers 5.2
NEW_TRL = {"warmup_steps", "activation_checkpointing"}                # the installed one's kind


@pytest.mark.parametrize("fields, given, want", [
    (OLD_TRL, {"warmup_ratio": 0.1}, {"warmup_ratio": 0.1}), (NEW_TRL, {"warmup_ratio": 0.1}, {"warmup_steps": 0.1}),
    (OLD_TRL, {"warmup_steps": 0.1}, {"warmup_ratio": 0.1}), (NEW_TRL, {"warmup_steps": 0.1}, {"warmup_steps": 0.1}),
    (OLD_TRL, {"warmup_steps": 5}, {"warmup_steps": 5}), (NEW_TRL, {"warmup_steps": 5}, {"warmup_steps": 5})])
def test_the_warmup_goes_to_the_field_the_installed_trl_reads(fields, given, want):
    # Where SFTConfig has warmup_ratio, warmup_steps=0.1 would be 0.1 *steps* (no warm-up); where it has only
    # warmup_steps (the installed TRL), a value below 1 there is a ratio.
    from synthkit.train.trainer import _version_args

    args = _version_args(parse_train_config({"dataset": "d", **given}), fields)
    assert {k: v for k, v in args.items() if k.startswith("warmup")} == want


def test_installed_trl_has_the_warmup_field_synthkit_fills():
    import dataclasses

    from trl import SFTConfig

    from synthkit.train.trainer import _version_args

    names = {f.name for f in dataclasses.fields(SFTConfig)}
    assert {k for k in _version_args(parse_train_config({"dataset": "d"})) if k.startswith("warmup")} <= names


def test_sft_block_and_report_to_reach_trls_config(tiny_model_dir, chat_dataset, tmp_path):
    from synthkit.train.trainer import build_trainer

    cfg = config(tiny_model_dir, chat_dataset, tmp_path / "out", report_to=[],
                 sft={"max_grad_norm": 0.3, "dataloader_drop_last": True})
    trainer, _ = build_trainer(cfg)
    assert (trainer.args.max_grad_norm, trainer.args.dataloader_drop_last, trainer.args.report_to) == (0.3, True, [])
    assert trainer.args.learning_rate == 1e-3 and trainer.args.per_device_train_batch_size == 2
    bad = cfg.model_copy(update={"sft": {"optim": "no_such_optimizer"}})
    with pytest.raises(ConfigError, match=r"sft \(optim\): TRL's SFTConfig refused it"):
        build_trainer(bad)


def test_ib_ft_logs_its_terms_and_saves_a_plain_adapter(tiny_model_dir, chat_dataset, tmp_path):
    from transformers import TrainerState

    from synthkit.train.ib import IB_FILE

    # Packed, padding-free batches and gradient checkpointing: the hook must still see a connected hidden state.
    cfg = config(tiny_model_dir, chat_dataset, tmp_path / "ib", max_steps=2, ib={"enabled": True, "dim": 16},
                 packing=True, gradient_checkpointing=True)
    (ck,) = train(cfg).checkpoints
    assert (ck.path / IB_FILE).is_file()                          # the bottleneck, for a resume
    logs = [e for e in TrainerState.load_from_json(str(ck.path / "trainer_state.json")).log_history if "ce" in e]
    assert len(logs) == 2 and all(e["kl"] >= 0 and e["ce_bottleneck"] > 0 for e in logs)
    # loss = ce + beta * (kl + gamma * ce_bottleneck), with beta 0.2 and gamma 0.01
    for e in logs:
        assert e["loss"] == pytest.approx(e["ce"] + 0.2 * (e["kl"] + 0.01 * e["ce_bottleneck"]), rel=1e-3)
    from safetensors import safe_open

    with safe_open(str(ck.path / "adapter_model.safetensors"), "pt") as f:
        assert all("lora_" in k for k in f.keys())               # no bottleneck weights in the adapter
    assert generate(merge_or_load(ck.path)) > 0


def test_output_dir_with_another_writers_checkpoints_needs_overwrite(tiny_model_dir, chat_dataset, tmp_path):
    (tmp_path / "out" / "checkpoint-7").mkdir(parents=True)
    cfg = config(tiny_model_dir, chat_dataset, tmp_path / "out", max_steps=1)
    with pytest.raises(ConfigError, match="already holds 1 checkpoint.*not written by `synthkit train`"):
        train(cfg)
    assert [c.step for c in train(cfg, overwrite=True).checkpoints] == [1]
    assert not (tmp_path / "out" / "checkpoint-7").exists()


def test_same_config_resumes_another_needs_overwrite(tiny_model_dir, chat_dataset, tmp_path):
    out = tmp_path / "out"
    cfg = config(tiny_model_dir, chat_dataset, out, max_steps=2, save_steps=1)
    first = train(cfg)
    assert [c.step for c in first.checkpoints] == [1, 2]
    mtime = (first.checkpoints[-1].path / META).stat().st_mtime_ns
    again = train(cfg)                                            # finished: resumes at step 2, trains nothing more
    assert again.checkpoints == first.checkpoints and (first.checkpoints[-1].path / META).stat().st_mtime_ns == mtime
    with pytest.raises(ConfigError, match=r"another run: its config differs in: learning_rate, lora.r\b.*--overwrite"):
        train(config(tiny_model_dir, chat_dataset, out, max_steps=2, save_steps=1, learning_rate=5e-4,
                     lora={"r": 2, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]}))
    with pytest.raises(ConfigError, match="resume is `never`"):
        train(cfg.model_copy(update={"resume": "never"}))
    with pytest.raises(ConfigError, match="same config, different data"):
        train(cfg, data_fingerprint="other data")
    # A checkpoint folder a kill left half-written is never resumed from: it goes, the last complete one stays.
    (out / "checkpoint-3").mkdir()
    (out / "checkpoint-3" / "optimizer.pt").write_bytes(b"half")
    assert [c.step for c in train(cfg).checkpoints] == [1, 2] and not (out / "checkpoint-3").exists()
    assert [c.step for c in train(cfg, overwrite=True).checkpoints] == [1, 2]    # overwrite: starts over


def test_eval_fraction_logs_held_out_loss_at_each_checkpoint(tiny_model_dir, tmp_path, save_rows, make_chat):
    # Two answers per task: the split is by task, so the held-out loss is on tasks never trained on.
    rows = [{"instruction": f"task {i // 2}", "messages": make_chat(i // 2)} for i in range(12)]
    cfg = config(tiny_model_dir, save_rows(tmp_path / "ds", rows), tmp_path / "out", max_steps=3, save_steps=2,
                 eval_fraction=0.34)
    cks = train(cfg).checkpoints
    assert [c.step for c in cks] == [2, 3] and all(c.eval_loss is not None and c.eval_loss > 0 for c in cks)


def test_bad_dataset_fails_before_training(tiny_model_dir, tmp_path, save_rows):
    path = save_rows(tmp_path / "plain", [{"instruction": "a", "response": "b"}])
    with pytest.raises(DataError, match="plain: no `messages` column"):
        train(config(tiny_model_dir, path, tmp_path / "out", max_steps=1))
    assert not (tmp_path / "out").exists()


def test_missing_model_is_a_config_error(tmp_path, chat_dataset):
    with pytest.raises(ConfigError, match="model: cannot load"):
        train(parse_train_config({"model": str(tmp_path / "nope"), "dataset": str(chat_dataset),
                                  "output_dir": str(tmp_path / "out")}))


def test_rows_truncated_to_no_assistant_token_are_reported(tiny_model_dir, tmp_path, save_rows, make_chat, caplog):
    from synthkit.train.trainer import build_trainer

    long = make_chat(0)
    long[1]["content"] = "word " * 200                          # the prompt alone overflows max_seq_len
    path = save_rows(tmp_path / "ds", [{"messages": long}, {"messages": make_chat(1)}])
    with caplog.at_level("WARNING"):
        trainer, _ = build_trainer(config(tiny_model_dir, path, tmp_path / "out", max_length=64))
    assert len(trainer.train_dataset) == 1
    assert "1 of 2 rows have no assistant token within max_length=64" in caplog.text


def test_checkpoint_helpers_refuse_what_is_not_a_checkpoint(tmp_path):
    with pytest.raises(DataError, match="no such training output folder"):
        list_checkpoints(tmp_path / "none")
    (tmp_path / "checkpoint-3").mkdir()                               # written by something else: skipped
    assert list_checkpoints(tmp_path) == []
    with pytest.raises(DataError, match="neither a LoRA adapter .* nor a model"):
        merge_or_load(tmp_path / "checkpoint-3")


def _merge_in_child(path, out):
    from synthkit.llm.lora import merge_or_load

    out.put(str(merge_or_load(path)))


def test_two_processes_merging_at_once_both_get_a_valid_model(tiny_model_dir, chat_dataset, tmp_path):
    import multiprocessing as mp

    (ck,) = train(config(tiny_model_dir, chat_dataset, tmp_path / "out", max_steps=1)).checkpoints
    ctx = mp.get_context("spawn")  # fresh interpreters, as two workers would be
    out = ctx.Queue()
    procs = [ctx.Process(target=_merge_in_child, args=(str(ck.path), out)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0, 0]
    assert {out.get(timeout=5), out.get(timeout=5)} == {str(ck.path / "merged")}
    assert generate(ck.path / "merged") > 0
    assert not [p for p in ck.path.iterdir() if p.name.startswith(".merged-")]
    assert not [p for p in ck.path.iterdir() if p.is_file() and "lock" in p.name]  # the file list is the identity

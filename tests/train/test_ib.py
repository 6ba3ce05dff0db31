"""IB-FT: the trainer's loss against an independent implementation of the
formula, the block a layer setting names, and gradients reaching LoRA."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from synthkit.errors import ConfigError
from synthkit.train.config import IBSpec, parse_train_config
from synthkit.train.ib import attach, block_number, gaussian_kl, ib_terms


def test_gaussian_kl_matches_the_closed_form():
    mu = torch.tensor([[0.0, 1.0, -2.0]])
    logvar = torch.tensor([[0.0, math.log(4.0), math.log(0.25)]])
    # -0.5 * (1 + log s2 - mu^2 - s2), per dimension, by hand:
    expected = [0.0, -0.5 * (1 + math.log(4) - 1 - 4), -0.5 * (1 + math.log(0.25) - 4 - 0.25)]
    assert torch.allclose(gaussian_kl(mu, logvar), torch.tensor([expected]))


@pytest.mark.parametrize("layer, blocks, k", [(0.625, 32, 20), (0.625, 30, 19), (0.625, 2, 1), (1.0, 30, 30),
                                              (0.01, 30, 1), (20, 32, 20), (-1, 32, 32), (-32, 32, 1)])
def test_a_layer_setting_names_one_block(layer, blocks, k):
    assert block_number(layer, blocks) == k


def test_a_block_out_of_range_is_a_config_error():
    with pytest.raises(ConfigError, match=r"ib.layer: 3 is out of range for a model with 2 decoder blocks"):
        block_number(3, 2)
    with pytest.raises(ConfigError, match=r"ib.layer: -3 is out of range"):
        block_number(-3, 2)


# --- The loss, computed twice: by the trainer, and below from the formula alone ---------------------------------

REFERENCE = {}                                     # the defaults: block round(0.625 L), KL mean, head direct
EARLIER = {"layer": -1, "kl_reduction": "sum", "head": "final_norm", "input_norm": True}


def formula_loss(model, batch, h, w, noise, spec: dict, alpha=0.2, beta=0.01) -> tuple[torch.Tensor, dict]:
    """L = CE + alpha * (KL + beta * CE_IB), written out with plain tensor ops from the formula."""
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    out = model(input_ids=ids, attention_mask=mask)
    y = labels[:, 1:]
    ce = F.cross_entropy(out.logits[:, :-1].reshape(-1, out.logits.shape[-1]), y.reshape(-1), ignore_index=-100)
    x = h
    if spec.get("input_norm"):
        x = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + torch.finfo(h.dtype).eps)
    mu = x @ w["w_mu.weight"].T + w["w_mu.bias"]
    raw_logvar = x @ w["w_logvar.weight"].T + w["w_logvar.bias"]
    logvar = raw_logvar.clamp(-4, 4)
    z = mu + torch.exp(0.5 * logvar) * noise
    h_bar = z @ w["w_up.weight"].T + w["w_up.bias"]
    if spec.get("head") == "final_norm":
        eps = model.config.rms_norm_eps
        h_bar = h_bar * torch.rsqrt(h_bar.pow(2).mean(-1, keepdim=True) + eps) * w["final_norm"]
    logits_ib = h_bar @ model.get_output_embeddings().weight.T
    ce_ib = F.cross_entropy(logits_ib[:, :-1].reshape(-1, logits_ib.shape[-1]), y.reshape(-1), ignore_index=-100)
    per_dim = -0.5 * (1 + logvar - mu ** 2 - torch.exp(logvar))
    if spec.get("kl_reduction") == "sum":       # summed over dims, averaged over the labelled next-token positions
        kl = per_dim[:, :-1].sum(-1)[y != -100].mean()
    else:                                        # mean over batch, (real) tokens and latent dims
        kl = per_dim[mask.bool()].mean()
    return ce + alpha * (kl + beta * ce_ib), {"clamped": bool((raw_logvar.abs() > 4).any())}


@pytest.mark.parametrize("spec", [REFERENCE, EARLIER], ids=["reference", "earlier-variant"])
def test_trainer_loss_matches_the_formula_to_1e_5(spec, tiny_model_dir, tmp_path, save_rows, make_chat):
    from synthkit.train.trainer import build_trainer

    rows = [{"messages": make_chat(i, turns=1 + i % 2)} for i in range(4)]   # unequal lengths: padded batch
    cfg = parse_train_config({
        "model": str(tiny_model_dir), "dataset": str(save_rows(tmp_path / "ds", rows)), "output_dir": str(tmp_path / "o"),
        "per_device_train_batch_size": 4, "max_length": 256,
        "lora": {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": ["q_proj", "v_proj"]},
        "ib": {"enabled": True, "dim": 8, **spec}})
    trainer, _ = build_trainer(cfg)
    model, bottleneck = trainer.model, trainer.bottleneck
    batch = next(iter(trainer.get_train_dataloader()))
    assert (batch["attention_mask"] == 0).any()         # padding present: the KL mean must leave it out
    torch.manual_seed(1)
    with torch.no_grad():                               # weights large enough that every term matters
        for name, p in [*model.named_parameters(), *bottleneck.named_parameters()]:
            if "lora_B" in name or name.startswith("w_"):
                p.normal_(std=0.5 if name.startswith("w_logvar") else 0.1)
        bottleneck.w_logvar.bias[:3] += 6.0             # some log sigma^2 beyond the clamp, both ways
        bottleneck.w_logvar.bias[3:5] -= 6.0
    model.train()

    torch.manual_seed(123)
    loss = trainer.compute_loss(model, dict(batch))

    w = {k: v.detach() for k, v in bottleneck.state_dict().items()}
    base = model.get_base_model()
    w["final_norm"] = base.model.norm.weight.detach()
    captured = {}
    hook = base.model.layers[-1].register_forward_hook(lambda m, a, out: captured.update(h=out[0] if isinstance(out, tuple) else out))
    torch.manual_seed(123)
    with torch.no_grad():
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
    hook.remove()
    # reference: hidden_states[round(0.625 * 2)] = hidden_states[1]; earlier: the last block, before the final norm
    h = out.hidden_states[1] if spec is REFERENCE else captured["h"]
    noise = torch.randn(*h.shape[:2], 8)              # eps, drawn after the forward as the trainer draws it
    with torch.no_grad():
        expected, info = formula_loss(model, batch, h, w, noise, spec)
    assert info["clamped"]                              # the clamp on log sigma^2 is exercised
    assert abs(float(loss) - float(expected)) < 1e-5, (float(loss), float(expected))


# --- gradients and the tap ----------------------------------------------------------------------------------------


@pytest.fixture
def lora_model(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                             lora_dropout=0.0, task_type="CAUSAL_LM"))
    with torch.no_grad():  # B starts at zero, which would leave A without gradient; give both a value
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(std=0.02)
    return model


def lora_grads_by_layer(model) -> dict[int, float]:
    out: dict[int, float] = {}
    for n, p in model.named_parameters():
        if "lora_" in n:
            layer = int(n.split(".layers.")[1].split(".")[0])
            g = 0.0 if p.grad is None else float(p.grad.abs().sum())
            out[layer] = out.get(layer, 0.0) + g
    return out


@pytest.mark.parametrize("term, checkpointing", [("kl", False), ("ce_bottleneck", False), ("kl", True)])
def test_each_term_alone_reaches_lora_at_and_below_the_bottleneck(lora_model, term, checkpointing):
    if checkpointing:  # as the trainer sets it up: the hooked output must stay in the graph
        lora_model.train()
        if hasattr(lora_model, "activation_checkpointing_enable"):   # transformers >= 5.24's name
            lora_model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            lora_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        lora_model.enable_input_require_grads()
    bottleneck, tap, head = attach(lora_model, IBSpec(layer=1, dim=16))     # block 1 = layers[0]
    ids = torch.randint(0, lora_model.config.vocab_size, (2, 12))
    labels = ids.clone()
    labels[:, :4] = -100
    tap.armed = True
    lora_model(input_ids=ids)
    hidden = tap.take()
    terms = ib_terms(bottleneck, hidden, labels, head)
    terms[term].backward()
    grads = lora_grads_by_layer(lora_model)
    assert grads[0] > 0            # the bottleneck's block: the term's gradient arrives
    assert grads[1] == 0           # above the bottleneck: nothing flows back from it
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in bottleneck.w_mu.parameters())
    tap.remove()


def test_tap_captures_only_while_armed(lora_model):
    _, tap, _ = attach(lora_model, IBSpec(layer=-1, dim=8))
    ids = torch.randint(0, lora_model.config.vocab_size, (1, 6))
    lora_model(input_ids=ids)
    assert tap.take() is None
    tap.armed = True
    lora_model(input_ids=ids)
    assert tap.take().shape == (1, 6, 64) and not tap.armed


# --- reference details: initialisation, gradient clipping ----------------------------------------------------------


def test_init_is_nn_linears_default_unless_small_is_asked_for():
    from synthkit.train.ib import Bottleneck

    torch.manual_seed(0)
    ref = Bottleneck(64, 16)                             # the reference: nn.Linear(64, 16) as it comes
    bound = 1 / 64 ** 0.5
    for lin in (ref.w_mu, ref.w_logvar):
        assert lin.weight.abs().max() <= bound and lin.weight.abs().max() > 0.9 * bound   # kaiming-uniform range
        assert lin.bias.abs().max() > 0.5 * bound                                      # a non-zero bias
    small = Bottleneck(64, 16, init="small")
    assert all(float(lin.bias.abs().max()) == 0.0 for lin in (small.w_mu, small.w_logvar))
    assert float(small.w_mu.weight.std()) == pytest.approx(0.1 / 8, rel=0.15)
    assert IBSpec().init == "linear_default"
    with pytest.raises(Exception, match="init"):
        IBSpec(init="zeros")


def test_z_is_sampled_in_training_and_mu_in_eval_mode():
    from synthkit.train.ib import Bottleneck

    torch.manual_seed(0)
    b, h = Bottleneck(16, 4), torch.randn(2, 3, 16)
    b.train()
    assert not torch.equal(b(h)[0], b(h)[0])             # z = mu + sigma * eps: a new eps each call
    b.eval()
    out, mu, _ = b(h)
    assert torch.equal(out, b.w_up(mu))                  # z = mu


@pytest.mark.slow   # one training step of the tiny model: a few seconds
def test_gradient_clipping_covers_the_bottleneck(tiny_model_dir, tmp_path, save_rows, make_chat):
    from transformers import TrainerCallback

    from synthkit.train.trainer import build_trainer

    max_norm = 1e-3
    cfg = parse_train_config({
        "model": str(tiny_model_dir), "dataset": str(save_rows(tmp_path / "ds", [{"messages": make_chat(i)} for i in range(4)])),
        "output_dir": str(tmp_path / "o"), "per_device_train_batch_size": 4, "max_length": 128, "max_steps": 1,
        "save_steps": 0, "lora": {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "ib": {"enabled": True, "dim": 8}, "sft": {"max_grad_norm": max_norm}})
    trainer, _ = build_trainer(cfg)
    seen = {}

    class Norms(TrainerCallback):   # called after clipping, before optimizer.step()
        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            def norm(params):
                return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params if p.grad is not None])))
            seen["bottleneck"] = norm(trainer.bottleneck.parameters())
            seen["all"] = norm([*trainer.model.parameters(), *trainer.bottleneck.parameters()])

    trainer.add_callback(Norms())
    trainer.train()
    assert seen["bottleneck"] > 0                        # the bottleneck has gradients at that point
    assert seen["all"] <= max_norm * 1.01, seen           # and one norm over model + bottleneck is clipped

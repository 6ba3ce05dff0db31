"""IB-FT terms: the KL against its closed form, and gradients reaching LoRA."""

from __future__ import annotations

import math

import pytest
import torch

from synthkit.errors import ConfigError
from synthkit.train.ib import Bottleneck, attach, gaussian_kl, ib_terms


def test_gaussian_kl_matches_the_closed_form():
    mu = torch.tensor([[0.0, 1.0, -2.0], [0.5, 0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(4.0), math.log(0.25)], [0.0, 0.0, 0.0]])
    # 0.5 * sum(mu^2 + sigma^2 - 1 - log sigma^2), per row, by hand:
    row0 = 0.5 * ((0 + 1 - 1 - 0) + (1 + 4 - 1 - math.log(4)) + (4 + 0.25 - 1 - math.log(0.25)))
    row1 = 0.5 * 0.25
    assert torch.allclose(gaussian_kl(mu, logvar), torch.tensor([row0, row1]))
    assert gaussian_kl(torch.zeros(2, 7), torch.zeros(2, 7)).abs().max() == 0  # N(0, I) against itself


def test_ib_terms_average_over_labelled_positions():
    torch.manual_seed(0)
    hidden, vocab = 8, 11
    b = Bottleneck(hidden, 4).eval()  # eval: z = mu, deterministic
    lm_head, norm = torch.nn.Linear(hidden, vocab, bias=False), torch.nn.Identity()
    h = torch.randn(2, 5, hidden)
    labels = torch.tensor([[-100, 3, 4, -100, 1], [-100, -100, 7, 2, -100]])
    terms = ib_terms(b, h, labels, norm, lm_head)
    # Position t is scored against label t+1: the labelled next tokens are 3, 4, 1, 7, 2.
    keep = [(0, 0), (0, 1), (0, 3), (1, 1), (1, 2)]
    hs = torch.stack([h[i, t] for i, t in keep])
    ys = torch.tensor([labels[i, t + 1] for i, t in keep])
    decoded, mu, logvar = b(hs)
    assert torch.allclose(terms["kl"], gaussian_kl(mu, logvar).mean())
    ce = torch.nn.functional.cross_entropy(lm_head(decoded), ys)
    assert torch.allclose(terms["ce_bottleneck"], ce)
    # An explicit normaliser (tokens over the whole accumulated step) divides the sums instead.
    t10 = ib_terms(b, h, labels, norm, lm_head, num_items=10)
    assert torch.allclose(t10["kl"], gaussian_kl(mu, logvar).sum() / 10)


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
        lora_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        lora_model.enable_input_require_grads()
    bottleneck, tap, norm = attach(lora_model, layer=0, dim=16)
    ids = torch.randint(0, lora_model.config.vocab_size, (2, 12))
    labels = ids.clone()
    labels[:, :4] = -100
    tap.armed = True
    lora_model(input_ids=ids)
    hidden = tap.take()
    terms = ib_terms(bottleneck, hidden, labels, norm, lora_model.get_output_embeddings())
    terms[term].backward()
    grads = lora_grads_by_layer(lora_model)
    assert grads[0] > 0            # the bottleneck's layer: the term's gradient arrives
    assert grads[1] == 0           # above the bottleneck: nothing flows back from it
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in bottleneck.encoder.parameters())
    tap.remove()


def test_tap_captures_only_while_armed(lora_model):
    _, tap, _ = attach(lora_model, layer=-1, dim=8)
    ids = torch.randint(0, lora_model.config.vocab_size, (1, 6))
    lora_model(input_ids=ids)
    assert tap.take() is None
    tap.armed = True
    lora_model(input_ids=ids)
    assert tap.take().shape == (1, 6, 64) and not tap.armed


def test_layer_out_of_range_is_a_config_error(lora_model):
    with pytest.raises(ConfigError, match="ib.layer: 2 is out of range for a model with 2 decoder layers"):
        attach(lora_model, layer=2, dim=8)

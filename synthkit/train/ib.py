"""IB-FT: a variational information bottleneck on one decoder layer's output.

A forward hook on decoder layer ``layer`` (default -1: the last, i.e. the hidden
state just before the model's final norm) captures its output ``h``. The
bottleneck encodes ``h`` (RMS-normalised) into the mean and log-variance of a
``dim``-sized diagonal Gaussian, draws ``z = mu + sigma * eps``
(reparameterised, so gradients flow into ``h`` and hence into every trainable
weight at or below ``layer``), decodes ``z`` back to the hidden size and scores
it with the model's own final norm and LM head. The loss becomes::

    loss = CE + beta * (KL + gamma * CE_bottleneck)

- ``KL``: KL(N(mu, sigma^2) || N(0, I)) = 0.5 * sum_d (mu^2 + sigma^2 - 1 - log sigma^2),
  summed over the latent dimensions and averaged over the tokens that carry a
  label (the same positions, and the same normaliser, as CE).
- ``CE_bottleneck``: the next-token cross-entropy of the logits computed from the
  decoded sample, on the same labels, averaged the same way.

The bottleneck's weights live outside the model (they get their own optimizer
group), so a saved checkpoint holds the model or adapter only and loads and
generates like any other; they are not saved, so resuming an IB-FT run from a
checkpoint would start a fresh bottleneck. In eval mode ``z = mu`` (no noise).
Cost: one more LM-head pass over the labelled tokens (in checkpointed chunks
of ``_CE_CHUNK`` tokens, so the logits never exist for all tokens at once).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from synthkit.errors import ConfigError

log = logging.getLogger(__name__)

_CE_CHUNK = 2048  # tokens per LM-head chunk: bounds the (chunk, vocab) logits held at once


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per position, summed over the last dim."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


class Bottleneck(nn.Module):
    """hidden -> (mu, logvar) of a ``dim``-d Gaussian -> sample -> hidden.

    The encoder reads the RMS-normalised hidden state: raw residual-stream
    values reach the hundreds in some models (SmolLM2's last layer), which made
    exp(logvar) overflow. Its weights start small (outputs of std ~0.1), so the
    latent starts near N(0, I) and the KL near 0 instead of swamping the CE.
    """

    def __init__(self, hidden_size: int, dim: int) -> None:
        super().__init__()
        self.encoder = nn.Linear(hidden_size, 2 * dim)
        self.decoder = nn.Linear(dim, hidden_size)
        nn.init.normal_(self.encoder.weight, std=0.1 / hidden_size ** 0.5)
        nn.init.zeros_(self.encoder.bias)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(F.rms_norm(h, (h.shape[-1],))).chunk(2, dim=-1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return self.decoder(z), mu, logvar


def decoder_layers(model: Any) -> tuple[nn.ModuleList, nn.Module]:
    """The decoder layers and the final norm of a (PEFT-wrapped) causal LM."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    layers = getattr(decoder, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise ConfigError(f"ib: cannot find the decoder layers of {type(base).__name__} (expected .get_decoder().layers)")
    return layers, getattr(decoder, "norm", nn.Identity())


class LayerTap:
    """Keeps the output of one module's forward while armed (the training
    forward), so nothing is captured during generation or evaluation."""

    def __init__(self, module: nn.Module) -> None:
        self.armed, self.value = False, None
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: Any, output: Any) -> None:
        if self.armed:
            self.value = output[0] if isinstance(output, tuple) else output

    def take(self) -> torch.Tensor | None:
        value, self.value, self.armed = self.value, None, False
        return value

    def remove(self) -> None:
        self.handle.remove()


def _chunk_ce_sum(hidden: torch.Tensor, labels: torch.Tensor, norm: nn.Module, lm_head: nn.Module) -> torch.Tensor:
    """Summed CE of lm_head(norm(hidden)) against labels, in checkpointed chunks,
    so the full (tokens, vocab) logits never exist at once."""
    def piece(h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(lm_head(norm(h)).float(), y, reduction="sum")

    total = hidden.new_zeros((), dtype=torch.float32)
    for h, y in zip(hidden.split(_CE_CHUNK), labels.split(_CE_CHUNK)):
        total = total + checkpoint(piece, h, y, use_reentrant=False)
    return total


def ib_terms(bottleneck: Bottleneck, h: torch.Tensor, labels: torch.Tensor, norm: nn.Module,
             lm_head: nn.Module, num_items: torch.Tensor | int | None = None) -> dict[str, torch.Tensor]:
    """``kl`` and ``ce_bottleneck`` for hidden states ``h`` (batch, seq, hidden)
    and unshifted ``labels`` (batch, seq), each summed over the labelled
    positions and divided by ``num_items`` (default: their count)."""
    h, labels = h[:, :-1], labels[:, 1:].to(h.device)
    mask = labels != -100
    denom = mask.sum().clamp(min=1) if num_items is None else torch.as_tensor(num_items, device=h.device)
    hm = h[mask]
    w = bottleneck.encoder.weight
    decoded, mu, logvar = bottleneck(hm.to(w.dtype))  # fp32 bottleneck under a bf16 model
    kl = gaussian_kl(mu.float(), logvar.float()).sum()
    ce_b = _chunk_ce_sum(decoded.to(h.dtype), labels[mask], norm, lm_head)
    return {"kl": kl / denom, "ce_bottleneck": ce_b / denom}


def attach(model: Any, layer: int, dim: int) -> tuple[Bottleneck, LayerTap, nn.Module]:
    """Create the bottleneck for ``model`` on its device and hook decoder layer
    ``layer``. Returns (bottleneck, tap, final norm)."""
    layers, norm = decoder_layers(model)
    if not -len(layers) <= layer < len(layers):
        raise ConfigError(f"ib.layer: {layer} is out of range for a model with {len(layers)} decoder layers")
    hidden = model.get_output_embeddings().weight.shape[1]
    device = model.get_output_embeddings().weight.device
    bottleneck = Bottleneck(hidden, dim).to(device)
    log.info("IB-FT: %d-d bottleneck on decoder layer %d of %d", dim, layer % len(layers), len(layers))
    return bottleneck, LayerTap(layers[layer]), norm

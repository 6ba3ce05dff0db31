"""IB-FT: a variational information bottleneck on one decoder block's output.

Loss = CE + beta * (KL + gamma * CE_IB), the reference implementation's
(arXiv 2510.16022) defaults: ``beta`` 0.2 and ``gamma`` 0.01 are the paper's alpha and
beta. h = output of block k; mu = W_mu h, log s2 = clamp(W_sigma h, -4, 4);
z = mu + exp(log s2 / 2) * eps (z = mu in eval); CE_IB = cross-entropy of
lm_head(W_up z) (``head: direct``, or through the final norm) on the response
tokens; KL to N(0, I), averaged over real tokens and latent dimensions
(``kl_reduction: mean``; ``sum``: summed over dimensions). Block k (``ib.layer``):
an int, or a float fraction of the depth (0.625 -> block 20 of 32); a forward hook
captures h before the final norm. Gradient clipping covers the bottleneck too. Its
weights live outside the model, saved as ``ib_bottleneck.safetensors`` beside each
checkpoint (a checkpoint loads and generates like any other). Cost: one more
LM-head pass over the labelled tokens, in chunks. Details: docs/methods/ibft.md.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from synthkit.errors import ConfigError

if TYPE_CHECKING:
    from synthkit.train.config import IBSpec

log = logging.getLogger(__name__)

_CE_CHUNK = 2048  # tokens per LM-head chunk: bounds the (chunk, vocab) logits held at once
LOGVAR_MIN, LOGVAR_MAX = -4.0, 4.0  # the reference's clamp on log sigma^2
IB_FILE = "ib_bottleneck.safetensors"  # the bottleneck's weights, in each checkpoint of an IB-FT run


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per latent dimension (no reduction)."""
    return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())


class Bottleneck(nn.Module):
    """h -> (mu, clamped logvar) of a ``dim``-d Gaussian -> sample -> h_bar."""

    def __init__(self, hidden_size: int, dim: int, input_norm: bool = False, init: str = "linear_default") -> None:
        super().__init__()
        if init not in ("linear_default", "small"):
            raise ConfigError(f"ib.init: expected linear_default or small, got {init!r}")
        self.input_norm = input_norm
        self.w_mu = nn.Linear(hidden_size, dim)
        self.w_logvar = nn.Linear(hidden_size, dim)
        self.w_up = nn.Linear(dim, hidden_size)
        if init == "small":
            for enc in (self.w_mu, self.w_logvar):
                nn.init.normal_(enc.weight, std=0.1 / hidden_size ** 0.5)
                nn.init.zeros_(enc.bias)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.rms_norm(h, (h.shape[-1],)) if self.input_norm else h
        mu = self.w_mu(x)
        logvar = self.w_logvar(x).clamp(LOGVAR_MIN, LOGVAR_MAX)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return self.w_up(z), mu, logvar


def block_number(layer: int | float, num_layers: int) -> int:
    """The 1-based decoder block ``ib.layer`` names (see the module docstring)."""
    if isinstance(layer, float):
        k = max(1, math.floor(layer * num_layers + 0.5))
    else:
        k = layer if layer > 0 else num_layers + 1 + layer
    if not 1 <= k <= num_layers:
        raise ConfigError(f"ib.layer: {layer} is out of range for a model with {num_layers} decoder blocks "
                          f"(1..{num_layers}, -1..-{num_layers}, or a fraction in (0, 1])")
    return k


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


def _chunk_ce_sum(hidden: torch.Tensor, labels: torch.Tensor, head: Callable[[torch.Tensor], torch.Tensor]
                  ) -> torch.Tensor:
    """Summed CE of head(hidden) against labels, in checkpointed chunks, so the
    full (tokens, vocab) logits never exist at once."""
    def piece(h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(head(h).float(), y, reduction="sum")

    total = hidden.new_zeros((), dtype=torch.float32)
    for h, y in zip(hidden.split(_CE_CHUNK), labels.split(_CE_CHUNK)):
        total = total + checkpoint(piece, h, y, use_reentrant=False)
    return total


def ib_terms(bottleneck: Bottleneck, h: torch.Tensor, labels: torch.Tensor,
             head: Callable[[torch.Tensor], torch.Tensor], token_mask: torch.Tensor | None = None,
             kl_reduction: str = "mean") -> dict[str, torch.Tensor]:
    """The micro-batch's ``kl`` and ``ce_bottleneck`` (means, as the module
    docstring defines them) and ``n_labelled``, the count of labelled positions,
    for hidden states ``h`` (batch, seq, hidden), unshifted ``labels`` (batch,
    seq) and ``token_mask`` (batch, seq; 1 = a real token, None = all are)."""
    w = bottleneck.w_mu.weight
    decoded, mu, logvar = bottleneck(h.to(w.dtype))  # every position; fp32 bottleneck under a bf16 model
    kl_el = gaussian_kl(mu.float(), logvar.float())
    y = labels[:, 1:].to(h.device)
    labelled = y != -100
    n = labelled.sum()
    if kl_reduction == "mean":
        real = torch.ones_like(labels, dtype=torch.bool) if token_mask is None else token_mask.bool()
        kl_real = kl_el[real.to(h.device)]
        kl = kl_real.mean() if kl_real.numel() else kl_el.sum() * 0.0
    else:
        kl = kl_el[:, :-1].sum(-1)[labelled].sum() / n.clamp(min=1)
    ce_sum = _chunk_ce_sum(decoded[:, :-1][labelled].to(h.dtype), y[labelled], head)
    return {"kl": kl, "ce_bottleneck": ce_sum / n.clamp(min=1), "n_labelled": n}


def attach(model: Any, spec: "IBSpec") -> tuple[Bottleneck, LayerTap, Callable[[torch.Tensor], torch.Tensor]]:
    """Create the bottleneck for ``model`` on its device and hook the block
    ``spec.layer`` names. Returns (bottleneck, tap, head)."""
    layers, norm = decoder_layers(model)
    k = block_number(spec.layer, len(layers))
    lm_head = model.get_output_embeddings()
    hidden, device = lm_head.weight.shape[1], lm_head.weight.device
    bottleneck = Bottleneck(hidden, spec.dim, spec.input_norm, spec.init).to(device)
    head = lm_head if spec.head == "direct" else nn.Sequential(norm, lm_head)
    log.info("IB-FT: %d-d bottleneck on block %d of %d (hidden_states[%d]), KL %s, head %s",
             spec.dim, k, len(layers), k, spec.kl_reduction, spec.head)
    return bottleneck, LayerTap(layers[k - 1]), head


def save_bottleneck(bottleneck: Bottleneck, ckpt_dir: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in bottleneck.state_dict().items()}
    save_file(state, str(Path(ckpt_dir) / IB_FILE))


def load_bottleneck(bottleneck: Bottleneck, ckpt_dir: Path) -> None:
    from safetensors.torch import load_file

    path = Path(ckpt_dir) / IB_FILE
    if not path.is_file():
        raise ConfigError(f"{ckpt_dir}: an IB-FT checkpoint without {IB_FILE}; cannot resume its bottleneck. "
                          "Pass --overwrite to start the run over")
    bottleneck.load_state_dict(load_file(str(path), device=str(bottleneck.w_mu.weight.device)))

"""Per-example LoRA gradients, batched, and Adam preconditioning.

- A row's loss is the mean cross-entropy over its assistant tokens (the trainer's
  mask and ``max_length`` cut); a row with no assistant token left has no gradient.
- ``per_example_grads(lm, collate(rows, pad_id))`` returns ``[B, P]`` float32
  gradients (parameters in ``lm.names`` order) from one batched forward and
  backward: ``hooks`` (LoRA factors only: one ordinary backward, each row's weight
  gradient summed from the kept inputs and output gradients) or ``vmap``
  (``torch.func``, any trainable parameters, about twice the memory). Both equal
  ``loop_grads``, one backward per row (tested). Rows are right-padded without an
  attention mask (causal: no real token sees a pad); only labelled positions go
  through the LM head.
- ``adam_precondition(g, state)`` is ``m'/sqrt(v' + eps)``, no bias correction.
Memory: activations per row, ``[B, K, vocab]`` logits for K labelled positions and
``B x P`` gradients; ``plan_batches`` caps a batch. Details: docs/methods/less.md.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Sequence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]          # -100 off the assistant tokens
    key: str                         # hash of the tokens and the mask: the feature cache key


def token_key(input_ids: Sequence[int], labels: Sequence[int]) -> str:
    h = hashlib.sha256()
    h.update(",".join(map(str, input_ids)).encode() + b"|" + ",".join(map(str, labels)).encode())
    return h.hexdigest()[:32]


def tokenize(tokenizer: Any, messages: list[dict], max_length: int) -> Example | None:
    """The row as the trainer sees it, cut to ``max_length``; None without an assistant token left."""
    from synthkit.errors import DataError
    from synthkit.train.data import tokenize_chat

    try:
        enc = tokenize_chat(tokenizer, messages)
    except DataError:
        return None
    ids, labels = enc["input_ids"][:max_length], enc["labels"][:max_length]
    if all(x == -100 for x in labels[1:]):  # the first token is never predicted
        return None
    return Example(tuple(ids), tuple(labels), token_key(ids, labels))


def plan_batches(examples: Sequence[Example], max_rows: int, max_tokens: int) -> list[list[int]]:
    """Positions of ``examples`` grouped into batches of similar length, at most
    ``max_rows`` rows and ``max_tokens`` padded tokens each (a longer row goes alone)."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    out: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        n = len(examples[i].input_ids)  # sorted, so the newest row is the longest
        if cur and (len(cur) + 1 > max_rows or (len(cur) + 1) * n > max_tokens):
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out


@dataclass
class Batch:
    ids: Any                         # LongTensor [B, L]: input ids, right-padded
    keep: Any                        # LongTensor [B, K]: positions t whose next token is labelled (padded with 0)
    target: Any                      # LongTensor [B, K]: the label of token t+1 (-100 on padding)


def collate(examples: Sequence[Example], pad_id: int) -> Batch:
    """Right-padded ids, and for each row the positions whose logits the loss reads:
    only those go through the LM head (``logits_to_keep``), so a long prompt costs no
    vocabulary-sized logits."""
    import torch

    width = max(len(e.input_ids) for e in examples)
    keeps = [[t for t in range(len(e.labels) - 1) if e.labels[t + 1] != -100] for e in examples]
    k = max(len(x) for x in keeps)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    keep = torch.zeros((len(examples), k), dtype=torch.long)
    target = torch.full((len(examples), k), -100, dtype=torch.long)
    for i, (e, pos) in enumerate(zip(examples, keeps)):
        ids[i, :len(e.input_ids)] = torch.tensor(e.input_ids)
        keep[i, :len(pos)] = torch.tensor(pos)
        target[i, :len(pos)] = torch.tensor([e.labels[t + 1] for t in pos])
    return Batch(ids, keep, target)


def _row_loss(lm: Any, params: dict[str, Any], ids: Any, keep: Any, target: Any) -> Any:
    """Mean cross-entropy over one row's labelled tokens (``ids`` ``[L]``; ``keep``, ``target`` ``[K]``)."""
    import torch
    from torch.func import functional_call

    kwargs = {"input_ids": ids[None], "use_cache": False}
    if lm.keeps_logits:
        kwargs["logits_to_keep"] = keep
    logits = functional_call(lm.model, params, args=(), kwargs=kwargs).logits[0]
    if not lm.keeps_logits:
        logits = logits[keep]
    n = (target != -100).sum().clamp(min=1)
    return torch.nn.functional.cross_entropy(logits.float(), target, ignore_index=-100, reduction="sum") / n


def per_example_grads(lm: Any, batch: Batch, chunk_size: int | None = None, method: str = "auto") -> Any:
    """Flat per-row gradients ``[B, P]`` (float32) of each row's loss w.r.t. the LoRA parameters.
    ``method``: ``hooks``, ``vmap`` (``chunk_size`` rows a vmapped call), or ``auto`` (hooks where
    they apply, see the module doc)."""
    if method not in ("auto", "hooks", "vmap"):
        raise ValueError(f"per_example_grads: method {method!r}: expected auto, hooks or vmap")
    if method == "hooks" or (method == "auto" and chunk_size is None and _lora_factors(lm) is not None):
        return _hook_grads(lm, batch)
    return _vmap_grads(lm, batch, chunk_size)


def _lora_factors(lm: Any) -> dict[str, Any] | None:
    """name -> module for each trainable parameter when all are plain LoRA factor weights, else None."""
    modules = dict(lm.model.named_modules())
    out = {}
    for n in lm.names:
        owner, _, leaf = n.rpartition(".")
        mod = modules.get(owner)
        if leaf != "weight" or mod is None or ".lora_A." not in n and ".lora_B." not in n \
                or type(mod).__name__ != "Linear" or getattr(mod, "bias", None) is not None:
            return None
        layer_name, _, rest = owner.rpartition(".lora_A." if ".lora_A." in owner else ".lora_B.")
        variants = getattr(modules.get(layer_name), "lora_variant", None) or {}
        if variants.get(rest):  # DoRA, QALoRA, ...: the factors' weights are used outside their forward
            return None
        out[n] = mod
    return out


def _hook_grads(lm: Any, batch: Batch) -> Any:
    import torch

    factors = _lora_factors(lm)
    if factors is None:
        raise ValueError("hook gradients need every trainable parameter to be a LoRA factor weight; use vmap")
    device = next(lm.model.parameters()).device
    ids, keep, target = batch.ids.to(device), batch.keep.to(device), batch.target.to(device)
    rows = ids.shape[0]
    grads: dict[str, Any] = {}

    def capture(name: str):
        def hook(module: Any, inputs: tuple, output: Any) -> None:
            x = inputs[0]

            def on_grad(d: Any) -> None:  # d: [B, T, out], x: [B, T, in] -> per-row weight grads [B, out, in]
                g = torch.einsum("bto,bti->boi", d.float(), x.float())
                grads[name] = grads[name] + g if name in grads else g  # a factor used twice adds up
            output.register_hook(on_grad)
        return hook

    handles = [mod.register_forward_hook(capture(n)) for n, mod in factors.items()]
    try:
        with torch.enable_grad():  # a caller's no_grad() would leave nothing to differentiate
            params = [p for p in lm.model.parameters() if p.requires_grad]
            torch.autograd.grad(_summed_row_losses(lm, ids, keep, target), params)  # the sum is dropped: the
            # hooks kept each row's part
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in lm.names if n not in grads]
    if missing:  # a factor whose weight is used without calling it (a LoRA variant)
        raise ValueError(f"hook gradients: no gradient reached {missing[:3]}; use method='vmap'")
    return torch.cat([grads[n].reshape(rows, -1) for n in lm.names], dim=1)


def _summed_row_losses(lm: Any, ids: Any, keep: Any, target: Any) -> Any:
    """Sum over the rows of each row's mean cross-entropy on its labelled positions."""
    import torch

    union = torch.unique(keep[target != -100])  # the positions any row reads; sorted
    kwargs: dict[str, Any] = {"input_ids": ids, "use_cache": False}
    if lm.keeps_logits:
        kwargs["logits_to_keep"] = union
        where = torch.searchsorted(union, keep)  # each row's positions inside the kept ones
    else:
        where = keep
    logits = lm.model(**kwargs).logits
    picked = logits.gather(1, where.clamp(max=logits.shape[1] - 1)[..., None].expand(-1, -1, logits.shape[-1]))
    ce = torch.nn.functional.cross_entropy(picked.float().reshape(-1, picked.shape[-1]), target.reshape(-1),
                                           ignore_index=-100, reduction="none").reshape(target.shape)
    n = (target != -100).sum(dim=1).clamp(min=1)
    return (ce.sum(dim=1) / n).sum()  # rows do not touch each other's losses


def _vmap_grads(lm: Any, batch: Batch, chunk_size: int | None) -> Any:
    import torch
    from torch.func import grad, vmap

    base = lm.model.get_base_model() if hasattr(lm.model, "get_base_model") else lm.model
    if getattr(base.config, "_attn_implementation", "eager") != "eager":
        base.set_attn_implementation("eager")  # vmap has no batching rule for SDPA's CPU kernels

    device = next(lm.model.parameters()).device
    params = lm.params()

    def loss(p: dict[str, Any], ids: Any, keep: Any, target: Any) -> Any:
        return _row_loss(lm, p, ids, keep, target)

    g = vmap(grad(loss), in_dims=(None, 0, 0, 0), chunk_size=chunk_size)(
        params, batch.ids.to(device), batch.keep.to(device), batch.target.to(device))
    return torch.cat([g[n].reshape(batch.ids.shape[0], -1).float() for n in lm.names], dim=1)


def loop_grads(lm: Any, examples: Sequence[Example]) -> Any:
    """The reference: one forward and one ``backward()`` per row, unpadded, on
    transformers' own loss (not ``_row_loss``). ``[B, P]`` float32."""
    import torch

    device = next(lm.model.parameters()).device
    named = dict(lm.model.named_parameters())
    out = []
    for e in examples:
        for n in lm.names:
            named[n].grad = None
        ids = torch.tensor([e.input_ids], device=device)
        labels = torch.tensor([e.labels], device=device)
        lm.model(input_ids=ids, labels=labels, use_cache=False).loss.backward()  # transformers' own loss
        out.append(torch.cat([named[n].grad.reshape(-1).float() for n in lm.names]))
    for n in lm.names:
        named[n].grad = None
    return torch.stack(out)


def adam_precondition(g: Any, state: Any) -> Any:
    """Adam's update direction for gradients ``g`` (``[B, P]``) from a checkpoint's
    moments: ``m'/sqrt(v' + eps)``, ``m' = b1*m + (1-b1)*g``, ``v' = b2*v + (1-b2)*g**2``,
    without bias correction (LESS)."""
    m = state.exp_avg.to(g.device)
    v = state.exp_avg_sq.to(g.device)
    m_new = state.beta1 * m + (1 - state.beta1) * g
    v_new = state.beta2 * v + (1 - state.beta2) * g * g
    return m_new / (v_new + state.eps).sqrt()

"""Per-example gradients: the batched torch.func version equals a one-backward-per-example
loop on transformers' own loss; Adam preconditioning equals the formula; the Adam state
is read in the optimizer's order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.influence import adder, chat, make_checkpoint, printer

from synthkit.errors import DataError
from synthkit.influence.checkpoint import load_adam, load_lora, resolve_checkpoints
from synthkit.influence.grads import (
    Example,
    adam_precondition,
    collate,
    loop_grads,
    per_example_grads,
    plan_batches,
    tokenize,
)


@pytest.fixture(scope="module")
def lm(ckpts):
    return load_lora(ckpts[0])


@pytest.mark.parametrize("method", ["hooks", "vmap"])
def test_batched_per_example_grads_equal_a_loop_of_backwards(ckpts, method):
    lm = load_lora(ckpts[0])  # fresh: the vmap path switches the shared model to eager attention
    base = lm.model.get_base_model().config
    assert base._attn_implementation == "sdpa"  # the hooks run on the attention the stage loads
    convs = [adder(3), printer(1), chat("Sort a list.", "def s(x):\n    return sorted(x)\n"), printer(2), adder(12)]
    ex = [tokenize(lm.tokenizer, c, 512) for c in convs]
    assert len({len(e.input_ids) for e in ex}) > 2  # different lengths: the batch is padded
    batched = per_example_grads(lm, collate(ex, lm.tokenizer.pad_token_id), method=method)
    looped = loop_grads(lm, ex)
    assert batched.shape == (5, lm.grad_dim) and lm.grad_dim > 1000
    rel = ((batched - looped).norm(dim=1) / looped.norm(dim=1)).max().item()
    assert rel <= 1e-4, rel
    # the rows really differ (a bug broadcasting one row's gradient would pass the check above only by luck)
    assert (batched[0] - batched[1]).norm() > 0.1 * batched[0].norm()
    assert base._attn_implementation == ("sdpa" if method == "hooks" else "eager")
    with torch.no_grad():  # a caller's no_grad changes nothing
        torch.testing.assert_close(per_example_grads(lm, collate(ex[:2], lm.tokenizer.pad_token_id), method=method),
                                   batched[:2], rtol=1e-4, atol=1e-6)


def test_chunked_vmap_and_full_logits_give_the_same_gradients(lm):
    ex = [tokenize(lm.tokenizer, c, 512) for c in (adder(1), adder(2), printer(3))]
    batch = collate(ex, lm.tokenizer.pad_token_id)
    assert lm.keeps_logits  # Llama takes logits_to_keep: the LM head runs on labelled positions only
    whole = per_example_grads(lm, batch, method="vmap")
    torch.testing.assert_close(per_example_grads(lm, batch, chunk_size=1), whole)
    hooks = per_example_grads(lm, batch)  # auto: a plain LoRA adapter takes the hooks
    torch.testing.assert_close(hooks, whole, rtol=1e-4, atol=1e-6)
    lm.keeps_logits = False  # a model without logits_to_keep: full logits, then the same positions
    try:
        for method in ("vmap", "hooks"):
            torch.testing.assert_close(per_example_grads(lm, batch, method=method), whole, rtol=1e-4, atol=1e-6)
    finally:
        lm.keeps_logits = True


def test_collate_keeps_the_labelled_positions(tiny_tokenizer):
    ex = [tokenize(tiny_tokenizer, c, 512) for c in (adder(1), printer(2))]
    b = collate(ex, 0)
    for i, e in enumerate(ex):
        pos = [t for t in range(len(e.labels) - 1) if e.labels[t + 1] != -100]
        assert b.keep[i, :len(pos)].tolist() == pos
        assert b.target[i, :len(pos)].tolist() == [e.labels[t + 1] for t in pos]
        assert (b.target[i, len(pos):] == -100).all() and b.ids[i, :len(e.input_ids)].tolist() == list(e.input_ids)


def test_the_adapter_is_loaded_unmerged_with_the_optimizer_order(lm, ckpts):
    names = [n for n, p in lm.model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    assert sorted(lm.names) == sorted(names)
    assert any("lora_A" in n for n, _ in lm.model.named_parameters())  # merge_and_unload would remove these
    assert not lm.model.training  # no dropout: deterministic features


def test_tokenize_follows_the_trainer_mask_and_max_length(tiny_tokenizer):
    from synthkit.train.data import tokenize_chat

    conv = adder(5)
    e = tokenize(tiny_tokenizer, conv, 1024)
    ref = tokenize_chat(tiny_tokenizer, conv)
    assert list(e.input_ids) == ref["input_ids"] and list(e.labels) == ref["labels"]
    n_prompt = next(i for i, x in enumerate(e.labels) if x != -100)
    assert tokenize(tiny_tokenizer, conv, n_prompt) is None  # cut before the first assistant token: no loss
    short = tokenize(tiny_tokenizer, conv, n_prompt + 3)
    assert len(short.input_ids) == n_prompt + 3 and short.key != e.key


def test_plan_batches_caps_rows_and_padded_tokens():
    ex = [Example(tuple(range(n)), tuple(range(n)), str(n)) for n in (5, 50, 6, 7, 49, 8, 200)]
    plan = plan_batches(ex, max_rows=3, max_tokens=120)
    assert sorted(i for b in plan for i in b) == list(range(7))
    for b in plan:
        longest = max(len(ex[i].input_ids) for i in b)
        assert len(b) <= 3 and (len(b) == 1 or len(b) * longest <= 120)


def test_adam_precondition_is_the_formula_without_bias_correction():
    from synthkit.influence.checkpoint import AdamState

    rng = np.random.default_rng(0)
    g, m = rng.normal(size=(3, 7)), rng.normal(size=7) * 1e-2
    v = rng.uniform(size=7) * 1e-4
    b1, b2, eps = 0.8, 0.95, 1e-6
    state = AdamState(torch.tensor(m, dtype=torch.float64), torch.tensor(v, dtype=torch.float64), b1, b2, eps)
    got = adam_precondition(torch.tensor(g), state).numpy()
    for i in range(3):
        for j in range(7):
            m2 = b1 * m[j] + (1 - b1) * g[i, j]
            v2 = b2 * v[j] + (1 - b2) * g[i, j] ** 2
            assert got[i, j] == pytest.approx(m2 / np.sqrt(v2 + eps), rel=1e-12)


def test_load_adam_reads_the_hand_built_state_in_optimizer_order(lm, ckpts):
    sd = torch.load(ckpts[0] / "optimizer.pt", weights_only=True)
    state = load_adam(ckpts[0], lm)
    assert (state.beta1, state.beta2, state.eps) == (0.9, 0.999, 1e-8)
    expect = torch.cat([sd["state"][i]["exp_avg"].reshape(-1) for i in range(len(lm.names))])
    torch.testing.assert_close(state.exp_avg, expect)
    assert state.exp_avg_sq.shape == (lm.grad_dim,)


def test_an_optimizer_state_of_another_adapter_is_refused(tmp_path, tiny_model_dir, ckpts):
    import shutil

    other = make_checkpoint(tmp_path / "r2", tiny_model_dir, r=2)
    shutil.copy(ckpts[0] / "optimizer.pt", other / "optimizer.pt")  # r=4 moments for an r=2 adapter
    with pytest.raises(DataError, match="does not belong to this adapter"):
        load_adam(other, load_lora(other))


def test_resolve_checkpoints(ckpts, tmp_path, tiny_model_dir):
    assert resolve_checkpoints([ckpts[0].parent]) == ckpts  # a training output folder: all, by step
    assert resolve_checkpoints([ckpts[1]]) == [ckpts[1]]
    with pytest.raises(DataError, match="full model"):
        resolve_checkpoints([tiny_model_dir])
    with pytest.raises(DataError, match="neither"):
        resolve_checkpoints([tmp_path])


def test_hooks_apply_only_to_plain_lora_factors(lm):
    from synthkit.influence.grads import _lora_factors

    assert _lora_factors(lm) is not None and len(_lora_factors(lm)) == len(lm.names)
    names = lm.names
    lm.names = names + ["base_model.model.model.embed_tokens.weight"]  # a trainable non-LoRA parameter
    try:
        assert _lora_factors(lm) is None
        ex = [tokenize(lm.tokenizer, adder(1), 512)]
        with pytest.raises(ValueError, match="vmap"):
            per_example_grads(lm, collate(ex, lm.tokenizer.pad_token_id), method="hooks")
    finally:
        lm.names = names
    with pytest.raises(ValueError, match="expected auto, hooks or vmap"):
        per_example_grads(lm, collate(ex, lm.tokenizer.pad_token_id), method="loop")

"""Featurisation end to end on hand-built checkpoints: what is computed equals the
formula, the cache serves reruns and new validation sets, a killed run resumes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("trak", reason="needs traker: pip install 'traker>=0.3'")

from helpers.influence import adder, chat, printer  # noqa: E402

from synthkit.influence import checkpoint as ckpt_mod  # noqa: E402
from synthkit.influence.data import ValExample  # noqa: E402
from synthkit.influence.features import FeatureSpec, featurize, score_rows  # noqa: E402
from synthkit.influence.store import FeatureStore  # noqa: E402

SPEC = FeatureSpec(dim=64, seed=3, max_length=256, batch_rows=3, project_rows=2, device="cpu")
POOL = [adder(1), printer(2), None, adder(7), printer(3), adder(1)]  # None: a row without messages; a duplicate


def _val(start, n):
    return [ValExample(f"v{i}", adder(100 + i), "add") for i in range(start, start + n)]


def test_train_features_are_the_projected_normalised_preconditioned_gradients(ckpts, tmp_path):
    from synthkit.influence.checkpoint import load_adam, load_lora
    from synthkit.influence.grads import adam_precondition, loop_grads, tokenize
    from synthkit.influence.project import make_projector, normalise

    convs = [adder(2), printer(1), chat("Sort.", "sorted(x)")]
    train = featurize(ckpts[0], convs, "train", SPEC, tmp_path)
    val = featurize(ckpts[0], convs, "val", SPEC, tmp_path)
    lm = load_lora(ckpts[0])
    g = loop_grads(lm, [tokenize(lm.tokenizer, c, 256) for c in convs])
    proj = make_projector(lm.grad_dim, 64, 3)
    want_train = normalise(proj.project(adam_precondition(g, load_adam(ckpts[0], lm)))).numpy()
    want_val = normalise(proj.project(g)).numpy()
    np.testing.assert_allclose(np.asarray(train.view), want_train, atol=2e-4)
    np.testing.assert_allclose(np.asarray(val.view), want_val, atol=2e-4)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(train.view), axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(want_train, want_val, atol=1e-2)  # the preconditioning did something


def test_the_cache_serves_reruns_and_new_validation_sets(ckpts, tmp_path, monkeypatch):
    first = score_rows(POOL, _val(0, 2), ckpts, SPEC, tmp_path)
    assert first.stats["train_rows_computed"] == 2 * 4  # 4 distinct conversations, 2 checkpoints
    assert first.stats["val_rows_computed"] == 2 * 2
    assert first.scores[2] is None and first.best[2] is None
    # the same conversation twice: one feature, the same score (to float rounding: BLAS blocks rows by position)
    assert first.scores[0] == pytest.approx(first.scores[5], rel=1e-9)
    assert all(s is not None for i, s in enumerate(first.scores) if i != 2)
    assert [c["weight"] for c in first.checkpoints] == pytest.approx([2 / 3, 1 / 3])  # lrs 1e-3, 5e-4

    new_val = score_rows(POOL, _val(5, 2), ckpts, SPEC, tmp_path)
    assert new_val.stats["train_rows_computed"] == 0  # only the new validation rows were computed
    assert new_val.stats["val_rows_computed"] == 2 * 2

    def no_model(*a, **k):
        raise AssertionError("everything is cached: no model may be loaded")
    monkeypatch.setattr(ckpt_mod, "load_lora", no_model)
    again = score_rows(POOL, _val(0, 2), ckpts, SPEC, tmp_path)
    assert again.scores == first.scores


def test_a_killed_featurisation_resumes_and_matches_an_uninterrupted_one(ckpts, tmp_path, monkeypatch):
    convs = [adder(i) if i % 2 else printer(i) for i in range(6)]
    whole = np.asarray(featurize(ckpts[1], convs, "train", SPEC, tmp_path / "a").view)
    real_append, calls = FeatureStore.append, []

    def killed_after_one(self, keys, feats):
        if calls:
            raise KeyboardInterrupt
        calls.append(len(keys))
        real_append(self, keys, feats)
    monkeypatch.setattr(FeatureStore, "append", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        featurize(ckpts[1], convs, "train", SPEC, tmp_path / "b")
    monkeypatch.setattr(FeatureStore, "append", real_append)
    resumed = featurize(ckpts[1], convs, "train", SPEC, tmp_path / "b")
    assert resumed.computed == len(convs) - calls[0]
    np.testing.assert_allclose(np.asarray(resumed.view), whole, atol=1e-5)


def test_another_projection_or_checkpoint_is_another_cache_folder(ckpts, tmp_path):
    featurize(ckpts[0], [adder(1)], "train", SPEC, tmp_path)
    other_seed = featurize(ckpts[0], [adder(1)], "train", FeatureSpec(**{**SPEC.__dict__, "seed": 4}), tmp_path)
    other_ckpt = featurize(ckpts[1], [adder(1)], "train", SPEC, tmp_path)
    assert other_seed.computed == 1 and other_ckpt.computed == 1
    assert len({p.parent.name for p in tmp_path.rglob("keys.txt")}) == 2  # two checkpoints by content
    assert len(list(tmp_path.rglob("keys.txt"))) == 3
    torch.manual_seed(0)

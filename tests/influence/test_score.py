"""score(): checkpoint weights from learning rates, mean over a subtask's examples, then max."""

from __future__ import annotations

import numpy as np
import pytest

from synthkit.influence.score import score

# Two checkpoints (learning rates 4e-4 and 1e-4, so weights 0.8 / 0.2), two training rows
# A and B, validation subtasks x (two examples) and y (one). Built so that A wins only
# with the learning-rate weights AND the mean-then-max order: every other variant puts B first.
TRAIN = [np.array([[-0.9, -0.5], [-0.3, -0.9]]), np.array([[-0.6, -0.8], [1.0, -0.1]])]
VAL = [np.array([[0.3, -1.0], [0.4, 0.9], [-0.8, -0.6]]), np.array([[0.9, -0.3], [0.9, -0.4], [-0.3, 1.0]])]
SUBTASKS = ["x", "x", "y"]
LRS = [4e-4, 1e-4]


def _cos(c):
    t = TRAIN[c] / np.linalg.norm(TRAIN[c], axis=1, keepdims=True)
    v = VAL[c] / np.linalg.norm(VAL[c], axis=1, keepdims=True)
    return t @ v.T  # [rows, val]


def test_two_checkpoints_rank_correctly_only_with_lr_weights_and_mean_then_max():
    res = score(TRAIN, VAL, LRS, SUBTASKS)
    assert res.score[0] > res.score[1]  # A first
    np.testing.assert_allclose(res.weights, [0.8, 0.2])
    # uniform checkpoint weights: B first
    uniform = score(TRAIN, VAL, [1.0, 1.0], SUBTASKS)
    assert uniform.score[1] > uniform.score[0]
    # the other orders, computed by hand from the same cosines: all put B first
    s = 0.8 * _cos(0) + 0.2 * _cos(1)  # [rows, val], weighted over checkpoints
    assert s.max(axis=1)[1] > s.max(axis=1)[0]       # max over single examples (no subtask mean)
    assert s.mean(axis=1)[1] > s.mean(axis=1)[0]     # mean over all examples (no max over subtasks)
    inside = sum(w * np.stack([_cos(c)[:, :2].mean(1), _cos(c)[:, 2]], 1).max(1)
                 for c, w in enumerate([0.8, 0.2]))  # max over subtasks per checkpoint, then the sum
    assert inside[1] > inside[0]


def test_score_equals_the_formula_on_random_features():
    rng = np.random.default_rng(3)
    c, n, m, d = 3, 50, 9, 16
    train = [rng.normal(size=(n, d)) * rng.uniform(0.1, 5) for _ in range(c)]  # any scale: cosines are taken
    val = [rng.normal(size=(m, d)) for _ in range(c)]
    subtasks = ["b", "a", "c", "a", "b", "b", "c", "a", "a"]
    lrs = [3e-4, 2e-4, 1e-4]
    res = score(train, val, lrs, subtasks)
    w = np.array(lrs) / sum(lrs)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    s = sum(w[k] * unit(train[k]) @ unit(val[k]).T for k in range(c))
    names = sorted(set(subtasks))
    per = np.stack([s[:, [j for j, t in enumerate(subtasks) if t == name]].mean(1) for name in names], 1)
    np.testing.assert_allclose(res.per_subtask, per, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.score, per.max(1), rtol=1e-10)
    assert res.subtasks == names and res.best_names() == [names[i] for i in per.argmax(1)]


def test_score_reads_sliceable_features_in_chunks(monkeypatch):
    import synthkit.influence.score as mod

    monkeypatch.setattr(mod, "CHUNK_ROWS", 7)
    rng = np.random.default_rng(4)
    train, val = [rng.normal(size=(30, 5))], [rng.normal(size=(4, 5))]
    whole = score(train, val, [1.0], ["a", "a", "b", "b"])
    monkeypatch.setattr(mod, "CHUNK_ROWS", 4096)
    np.testing.assert_allclose(whole.score, score(train, val, [1.0], ["a", "a", "b", "b"]).score)


@pytest.mark.parametrize("args, match", [
    (([np.ones((2, 3))], [np.ones((2, 3))], [1.0, 1.0], ["a", "a"]), "one of each per checkpoint"),
    (([np.ones((2, 3))], [np.ones((2, 3))], [0.0], ["a", "a"]), "not all 0"),
    (([np.ones((2, 3))], [np.ones((2, 3))], [1.0], ["a"]), "subtask labels"),
    (([np.ones((2, 3))], [np.ones((0, 3))], [1.0], []), "no validation examples"),
    (([np.ones((2, 3)), np.ones((3, 3))], [np.ones((1, 3))] * 2, [1.0, 1.0], ["a"]), "same training rows"),
])
def test_score_refuses_inconsistent_inputs(args, match):
    with pytest.raises(ValueError, match=match):
        score(*args)

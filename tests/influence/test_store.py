"""The feature cache: append-only, memory-mapped, valid after a kill at any point."""

from __future__ import annotations

import numpy as np
import pytest

from synthkit.influence.store import FEATURES, KEYS, FeatureStore, FeatureView


def _feats(n, d, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_append_read_and_reopen(tmp_path):
    s = FeatureStore(tmp_path, 8)
    a, b = _feats(3, 8), _feats(2, 8, 1)
    s.append(["k0", "k1", "k2"], a)
    s.append(["k3", "k1", "k4"], np.concatenate([b[:1], a[1:2], b[1:]]))  # k1 again: skipped
    again = FeatureStore(tmp_path, 8)
    assert len(again) == 5 and again.missing(["k1", "k9", "k9", "k5"]) == ["k9", "k5"]
    np.testing.assert_array_equal(again.read(["k4", "k0", "k1"]), np.stack([b[1], a[0], a[1]]))
    view = FeatureView(again, ["k2", "k3", "k0"])
    assert view.shape == (3, 8)
    np.testing.assert_array_equal(view[1:], np.stack([b[0], a[0]]))
    np.testing.assert_array_equal(np.asarray(view), np.stack([a[2], b[0], a[0]]))
    with pytest.raises(KeyError):
        FeatureView(again, ["nope"])


def test_a_kill_between_features_and_keys_leaves_a_valid_store(tmp_path):
    s = FeatureStore(tmp_path, 4)
    s.append(["a", "b"], _feats(2, 4))
    with open(tmp_path / FEATURES, "ab") as fh:  # features of a batch whose keys never got written
        fh.write(_feats(3, 4, 5).tobytes())
    with open(tmp_path / KEYS, "a") as fh:       # and a torn key line
        fh.write("c-half")
    s = FeatureStore(tmp_path, 4)
    assert len(s) == 2 and s.missing(["a", "c"]) == ["c"]
    new = _feats(1, 4, 9)
    s.append(["c"], new)
    s = FeatureStore(tmp_path, 4)
    assert (tmp_path / KEYS).read_text() == "a\nb\nc\n"
    assert (tmp_path / FEATURES).stat().st_size == 3 * 4 * 4
    np.testing.assert_array_equal(s.read(["c"]), new)


def test_keys_without_their_features_are_not_trusted(tmp_path):
    s = FeatureStore(tmp_path, 4)
    s.append(["a", "b", "c"], _feats(3, 4))
    with open(tmp_path / FEATURES, "r+b") as fh:  # a disk that lost the tail of the features
        fh.truncate(2 * 16 + 5)
    s = FeatureStore(tmp_path, 4)
    assert s.missing(["a", "b", "c"]) == ["c"]
    s.append(["c"], _feats(1, 4))
    assert FeatureStore(tmp_path, 4).missing(["a", "b", "c"]) == []


def test_append_checks_the_shape(tmp_path):
    with pytest.raises(ValueError, match="expected"):
        FeatureStore(tmp_path, 4).append(["a"], _feats(1, 5))

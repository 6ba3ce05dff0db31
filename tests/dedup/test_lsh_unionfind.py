"""LSH parameter choice, band grouping and the vectorised union-find."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch.lsh import _optimal_param

from synthkit.dedup.lsh import band_keys, equal_key_runs, optimal_bands, run_edges
from synthkit.dedup.unionfind import UnionFind


@pytest.mark.parametrize("num_perm,thresholds", [(32, (0.3, 0.5, 0.7, 0.8, 0.9)),
                                                 (128, (0.3, 0.5, 0.7, 0.8, 0.9)), (256, (0.7,))])
def test_optimal_bands_agrees_with_datasketch(num_perm, thresholds):
    for t in thresholds:
        assert optimal_bands(t, num_perm) == _optimal_param(t, num_perm, 0.5, 0.5), t
    assert optimal_bands(0.7, num_perm, 0.2, 0.8) == _optimal_param(0.7, num_perm, 0.2, 0.8)
    with pytest.raises(ValueError):
        optimal_bands(1.0, num_perm)


def test_band_keys_equal_iff_bands_equal():
    rng = np.random.default_rng(0)
    band = rng.integers(0, 2**32, size=(1000, 4), dtype=np.uint32)
    band[500:] = band[:500]
    band[999, 3] ^= 1
    keys = band_keys(band)
    assert np.array_equal(keys[500:999], keys[:499])
    assert keys[999] != keys[499]
    assert len(set(keys[:500].tolist())) == 500


def reference_groups(keys, active):
    groups = {}
    for i, (k, a) in enumerate(zip(keys.tolist(), active.tolist())):
        if a:
            groups.setdefault(k, []).append(i)
    return sorted(g for g in groups.values())


@pytest.mark.parametrize("parts", [1, 4])
def test_equal_key_runs_partitioned(parts):
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 50, size=3000).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    active = rng.random(3000) > 0.2
    got = []
    for rows, k in equal_key_runs(lambda lo, hi: keys[lo:hi], keys.size, active, parts, chunk=700):
        assert np.all(k[1:] >= k[:-1])
        for key in np.unique(k):
            got.append(rows[k == key].tolist())
    assert sorted(got) == reference_groups(keys, active)
    with pytest.raises(ValueError):
        next(equal_key_runs(lambda lo, hi: keys[lo:hi], keys.size, active, parts=3))


def test_run_edges_star_and_chain():
    rows = np.array([3, 5, 9, 1, 2, 7])
    keys = np.array([1, 1, 1, 2, 2, 3], dtype=np.uint64)
    u, v = run_edges(rows, keys)
    assert sorted(zip(u.tolist(), v.tolist())) == [(1, 2), (3, 5), (3, 9)]
    u, v = run_edges(rows, keys, chain=True)
    assert sorted(zip(u.tolist(), v.tolist())) == [(1, 2), (3, 5), (3, 9), (5, 9)]


def reference_components(n, u, v):
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    for a, b in zip(u, v):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(n)])


@pytest.mark.parametrize("on_disk", [False, True])
def test_union_find_matches_reference(tmp_path, on_disk):
    rng = np.random.default_rng(2)
    n = 4000
    u, v = rng.integers(0, n, 3500), rng.integers(0, n, 3500)
    uf = UnionFind(n, tmp_path / "parent.npy" if on_disk else None)
    merges = uf.union(u[:1000], v[:1000]) + uf.union(u[1000:], v[1000:])
    roots = np.asarray(uf.roots(chunk=512))
    want = reference_components(n, u.tolist(), v.tolist())
    assert np.array_equal(roots, want)                      # root = lowest index of the component
    assert merges == n - np.unique(want).size
    assert np.array_equal(uf.find(np.array([0, n - 1])), want[[0, n - 1]])


def test_run_edges_every_pair_of_a_small_verified_run_and_star_plus_chain_beyond():
    """Verified edges: a run of up to ALL_PAIRS rows links every pair (a copy is checked against
    its original even when the run's first rows are twins that verification turns down)."""
    from synthkit.dedup.lsh import ALL_PAIRS

    rows = np.array([4, 8, 9, 12, 20, 1, 2])
    keys = np.array([7, 7, 7, 7, 7, 9, 9], dtype=np.uint64)
    u, v = run_edges(rows, keys, chain=True)
    pairs = list(zip(u.tolist(), v.tolist()))
    assert sorted(pairs) == sorted([(a, b) for a in (4, 8, 9, 12, 20) for b in (4, 8, 9, 12, 20) if a < b] + [(1, 2)])
    assert [b for _, b in pairs] == sorted(b for _, b in pairs)   # ordered by the later row
    big = np.arange(ALL_PAIRS + 1)
    u, v = run_edges(big, np.zeros(big.size, np.uint64), chain=True)
    assert len(u) == 2 * ALL_PAIRS - 1   # star and chain: no quadratic blow-up
    assert set(zip(u.tolist(), v.tolist())) >= {(0, ALL_PAIRS), (ALL_PAIRS - 1, ALL_PAIRS)}

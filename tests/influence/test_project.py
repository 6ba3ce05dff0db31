"""Projection: traker's BasicProjector preserves inner products within the JL
tolerance; the kept matrix gives traker's own result; a missing traker names the pip command."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

pytest.importorskip("trak", reason="needs traker: pip install 'traker>=0.3'")

from synthkit.errors import MissingDependency  # noqa: E402
from synthkit.influence.project import BLOCK, make_projector, normalise  # noqa: E402


def test_projected_cosines_preserve_exact_ones_within_the_jl_tolerance():
    gen = torch.Generator().manual_seed(0)
    n, p, d = 40, 3000, 1024
    base = torch.randn(4, p, generator=gen)
    # rows that mix a few shared directions, so cosines span a wide range (not all near 0)
    x = torch.randn(n, 4, generator=gen) @ base + 0.5 * torch.randn(n, p, generator=gen)
    exact = normalise(x) @ normalise(x).T
    proj = make_projector(p, d, seed=0)
    approx = normalise(proj.project(x)) @ normalise(proj.project(x)).T
    err = (approx - exact).abs().max().item()
    # JL for Rademacher sketches: |error| <= eps with eps ~ sqrt(8 ln(n) / d) for all n^2 pairs w.h.p.
    tol = float(np.sqrt(8 * np.log(n) / d))
    assert err <= tol, (err, tol)
    assert exact.abs().mean() > 0.2  # the test is not trivially about orthogonal vectors
    assert (approx - exact).abs().mean().item() < tol / 3


def test_the_kept_matrix_is_traker_basic_projector():
    from trak.projectors import BasicProjector, ProjectionType

    p, d = 700, 3 * BLOCK + 17  # several blocks, a partial last one
    g = torch.randn(5, p, generator=torch.Generator().manual_seed(1))
    mine = make_projector(p, d, seed=7, memory_mb=64)
    assert mine.matrix is not None and mine.kind == "basic-cpu"
    theirs = BasicProjector(p, d, 7, ProjectionType.rademacher, "cpu", block_size=BLOCK, dtype=torch.float32)
    torch.testing.assert_close(mine.project(g), theirs.project(g, model_id=0), rtol=1e-5, atol=1e-4)
    regen = make_projector(p, d, seed=7, memory_mb=0)  # too big to keep: traker regenerates the blocks
    assert regen.matrix is None
    torch.testing.assert_close(regen.project(g), mine.project(g), rtol=1e-5, atol=1e-4)


def test_the_seed_defines_the_projection():
    g = torch.randn(3, 500, generator=torch.Generator().manual_seed(2))
    a, b, c = (make_projector(500, 256, seed=s).project(g) for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_missing_traker_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "trak", None)
    monkeypatch.setitem(sys.modules, "trak.projectors", None)
    with pytest.raises(MissingDependency, match=r"pip install 'traker>=0.3'"):
        make_projector(10, 4, seed=0)

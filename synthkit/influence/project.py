"""Random projection of gradients with traker's projectors (``pip install 'traker>=0.3'``).

``make_projector(grad_dim, dim, seed, device)`` returns a ``Projector`` whose
``project(g)`` maps ``[B, grad_dim]`` to ``[B, dim]`` float32: ``CudaProjector``
(``fast_jl``) on a GPU when it imports, else ``BasicProjector`` (Rademacher, blocks of
``BLOCK`` columns), whose blocks are generated once and kept when the matrix fits in
``memory_mb`` (same product, tested against ``BasicProjector.project``).

The matrix is defined by (projector kind, device type, seed, dim, BLOCK), which name
the feature cache folder; ``BLOCK`` is a constant, not a memory knob. Entries are +-1
unscaled; features are L2-normalised after projection.
"""

from __future__ import annotations

import logging
from typing import Any

from synthkit.errors import MissingDependency

log = logging.getLogger(__name__)

BLOCK = 128          # columns of each BasicProjector block
PIP = "pip install 'traker>=0.3'"
CUDA_ROWS = 16        # rows a CudaProjector (fast_jl) call takes at most


def require_trak() -> Any:
    try:
        import trak.projectors as projectors
    except ImportError as e:
        raise MissingDependency(f"influence needs traker's projectors, and 'trak' does not import ({e}). "
                                f"Run: {PIP}   (or pip install 'synthkit[influence]'; the PyPI package "
                                "named `trak` is an unrelated one)") from e
    return projectors


def _has_fast_jl() -> bool:
    try:
        import fast_jl  # noqa: F401
    except ImportError:
        return False
    return True


def projector_kind(device: str) -> str:
    """What ``Projector`` will use on ``device``: ``cudajl`` or ``basic-<device type>``."""
    import torch

    dev = torch.device(device)
    return "cudajl" if dev.type == "cuda" and _has_fast_jl() else f"basic-{dev.type}"


def projection_name(dim: int, seed: int, device: str) -> str:
    """Names the projection (the cache folder's suffix): kind, block, seed and dim."""
    return f"{projector_kind(device)}-b{BLOCK}-s{seed}-d{dim}"


class Projector:
    """``project(g)``: ``[B, grad_dim]`` -> ``[B, dim]`` float32 on the projector's device."""

    def __init__(self, grad_dim: int, dim: int, seed: int, device: str = "cpu", memory_mb: int = 2048) -> None:
        import torch

        projectors = require_trak()
        self.grad_dim, self.dim, self.seed = grad_dim, dim, seed
        self.device = torch.device(device)
        self.matrix = None
        if self.device.type == "cuda" and _has_fast_jl():
            self.kind = "cudajl"
            self.impl = projectors.CudaProjector(grad_dim, dim, seed, projectors.ProjectionType.rademacher,
                                                 self.device, max_batch_size=CUDA_ROWS)
            return
        self.kind = f"basic-{self.device.type}"
        self.impl = projectors.BasicProjector(grad_dim, dim, seed, projectors.ProjectionType.rademacher,
                                              self.device, block_size=BLOCK, dtype=torch.float32)
        if self.impl.num_blocks > 1 and grad_dim * dim * 4 <= memory_mb * 2**20:
            self.matrix = self._whole_matrix()
        elif self.impl.num_blocks > 1:
            log.warning("projection matrix (%d x %d float32, %.1f GB) exceeds memory_mb=%d: traker regenerates "
                        "it on every call, which is slow on a CPU; project larger batches, a smaller `dim`, "
                        "or raise memory_mb", grad_dim, dim, grad_dim * dim * 4 / 2**30, memory_mb)

    def _whole_matrix(self) -> Any:
        import torch

        p = self.impl
        out = torch.empty(self.grad_dim, self.dim, dtype=torch.float32, device=self.device)
        for i in range(p.num_blocks):
            p.generate_sketch_matrix(p.generator_states[i])  # traker's generator, block i's seed
            st, ed = i * p.block_size, min((i + 1) * p.block_size, self.dim)
            out[:, st:ed] = p.proj_matrix[:, : ed - st]
        p.free_memory()
        return out

    def project(self, g: Any) -> Any:
        import torch

        g = g.to(self.device, torch.float32)
        if self.matrix is not None:
            return g @ self.matrix
        if self.kind == "cudajl":  # fast_jl's kernels take at most max_batch_size rows a call
            return torch.cat([self.impl.project(c.contiguous(), model_id=0).float() for c in g.split(CUDA_ROWS)])
        return self.impl.project(g.contiguous(), model_id=0).float()


def make_projector(grad_dim: int, dim: int, seed: int, device: str = "cpu", memory_mb: int = 2048) -> Projector:
    return Projector(grad_dim, dim, seed, device, memory_mb)


def normalise(x: Any) -> Any:
    """Rows scaled to unit L2 norm (a zero row stays zero)."""
    return x / x.norm(dim=1, keepdim=True).clamp(min=1e-12)

"""Unbiased estimators of pass@k and Pass@k^(m) from n samples with c passing.

- ``pass_at_k(n, c, k)``: ``1 - C(n-c, k) / C(n, k)`` (Chen et al. 2021), in the
  product form ``1 - prod_{i=n-c+1}^{n} (1 - k/i)`` (no overflow, no precision loss).
- ``pass_at_k_m(n, c, k, m)``: the chance that at least m of k drawn samples pass (the
  IB-FT criterion): the hypergeometric upper tail, with exact integer binomials and one
  correctly rounded division. At m=1 it equals ``pass_at_k``.

Limits: ``0 <= c <= n``, ``1 <= k <= n``, ``1 <= m <= k``; else ``ValueError`` (a
programming error: the runner filters k > n and m > k with a note first).
"""

from __future__ import annotations

import logging
import math
from typing import Iterable, Sequence

log = logging.getLogger(__name__)


def _check(n: int, c: int, k: int) -> None:
    if not (0 <= c <= n):
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not (1 <= k <= n):
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem: n samples, c of them correct."""
    _check(n, c, k)
    if n - c < k:
        # every k-subset contains a passing sample
        return 1.0
    prob_all_fail = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_fail *= 1.0 - k / i
    return 1.0 - prob_all_fail


def pass_at_k_m(n: int, c: int, k: int, m: int) -> float:
    """Unbiased Pass@k^(m): P(at least m of k samples drawn from n pass)."""
    _check(n, c, k)
    if not (1 <= m <= k):
        raise ValueError(f"need 1 <= m <= k, got k={k}, m={m}")
    hits = sum(math.comb(c, i) * math.comb(n - c, k - i) for i in range(m, min(c, k) + 1))
    return hits / math.comb(n, k)


def mean_pass_at_k(ns: Sequence[int], cs: Sequence[int], k: int, m: int = 1) -> float:
    """Mean over problems of pass@k (m=1) or Pass@k^(m); problems may differ in n."""
    if len(ns) != len(cs):
        raise ValueError(f"{len(ns)} sample counts but {len(cs)} pass counts")
    if not ns:
        return float("nan")
    if m == 1:
        values: Iterable[float] = (pass_at_k(n, c, k) for n, c in zip(ns, cs))
    else:
        values = (pass_at_k_m(n, c, k, m) for n, c in zip(ns, cs))
    return math.fsum(values) / len(ns)

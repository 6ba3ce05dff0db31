"""MinHash signatures for a whole batch at once: numpy over every shingle.

``MinHasher(num_perm, seed, mode).signatures(texts)`` returns a ``uint32 [rows,
num_perm]`` array; empty rows get all ``0xFFFFFFFF`` (callers skip them).

Modes:

- ``fast`` (default): polynomial span hash + fmix64, then ``a*h + b mod 2**32``;
  not comparable with datasketch.
- ``compat``: bit-identical to ``datasketch.MinHash(num_perm, seed, scheme="legacy")``.
- ``compat_affine32``: bit-identical to datasketch >= 2.0's ``MinHash(num_perm, seed)``.

Compat modes pay one ``hashlib.sha1`` per shingle; ``to_datasketch`` wraps their
signatures. Code rows are shingled on ``codeview``'s abstract views with the
polynomial hash in every mode.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from synthkit.dedup.codeview import ViewHasher, code_batch, take_marks
from synthkit.dedup.normalize import NORMALIZE, code_rows, normalize_batch
from synthkit.dedup.shingles import PolyHasher, Shingles, fmix32, sha1_hash32, shingle_batch

log = logging.getLogger(__name__)

MODES = ("fast", "compat", "compat_affine32")
EMPTY = np.uint32(0xFFFFFFFF)
_MERSENNE = np.uint64((1 << 61) - 1)
_MASK32 = np.uint64((1 << 32) - 1)


@dataclass(frozen=True)
class ShingleSpec:
    """How rows become shingles; every field changes the signatures."""

    ngram: int = 5                # tokens (word) or characters (char) per shingle
    kind: str = "word"            # "word" | "char"
    lowercase: bool = True
    punctuation: str = "drop"     # "drop" | "split" | "keep", see normalize.py
    normalize: str = "text"       # "text" | "code" | "auto": which rows take the code view, see normalize.py
    ngram_code: int = 10          # tokens per word shingle of a code row (a code token is about half a word)


def permutations(num_perm: int, seed: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``(a, b)`` parameters, drawn exactly as datasketch draws them for ``seed``."""
    gen = np.random.RandomState(seed)
    if mode == "compat":
        # datasketch draws (a, b) pairs alternately, one scalar at a time; the
        # draw order decides the values, so mirror it (num_perm calls, once).
        pairs = [(gen.randint(1, _MERSENNE, dtype=np.uint64), gen.randint(0, _MERSENNE, dtype=np.uint64))
                 for _ in range(num_perm)]
        return (np.array([p[0] for p in pairs], dtype=np.uint64),
                np.array([p[1] for p in pairs], dtype=np.uint64))
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


class MinHasher:
    """Computes signatures; holds the permutations and the span-hash tables."""

    def __init__(self, num_perm: int = 256, seed: int = 1, mode: str = "fast",
                 spec: ShingleSpec = ShingleSpec(), use_perm: int | None = None) -> None:
        """``use_perm`` computes only the first ``use_perm`` of the ``num_perm``
        permutations (LSH uses ``bands * rows`` of them); the values are the
        same as the first columns of the full signature."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if num_perm < 1:
            raise ValueError(f"num_perm must be >= 1, got {num_perm}")
        if spec.normalize not in NORMALIZE:
            raise ValueError(f"normalize must be one of {NORMALIZE}, got {spec.normalize!r}")
        self.seed, self.mode, self.spec = seed, mode, spec
        self.a, self.b = permutations(num_perm, seed, mode)
        if use_perm is not None:
            if not 1 <= use_perm <= num_perm:
                raise ValueError(f"use_perm must be in 1..{num_perm}, got {use_perm}")
            self.a, self.b = self.a[:use_perm].copy(), self.b[:use_perm].copy()
        self.num_perm = int(self.a.size)
        self.poly = PolyHasher()
        self._views: ViewHasher | None = None
        self.code_rows = 0  # of the last parts() batch, how many took the code view

    # --- shingles -------------------------------------------------------------------
    def parts(self, texts: Sequence[str]) -> list[tuple[np.ndarray, Shingles, bool]]:
        """The batch's shingles, as ``[(row positions, Shingles of those rows, code)]``:
        one part for the rows compared as text, one for those compared as code
        (``spec.normalize``; a code part is a ``codeview.code_batch`` stream cut
        into ``ngram_code``-token word shingles, whatever ``kind`` says)."""
        # The compat modes hash shingle text, and char shingles include the
        # spaces: both need single spaces. Token-hashed word shingles do not.
        collapse = self.mode != "fast" or self.spec.kind == "char"
        is_code = code_rows(texts, self.spec.normalize)
        self.code_rows = sum(is_code)
        spec, out = self.spec, []
        for code in (False, True):
            idx = np.array([i for i, c in enumerate(is_code) if c == code], dtype=np.int64)
            if idx.size == 0:
                continue
            rows = [texts[i] for i in idx.tolist()]
            if code:
                out.append((idx, shingle_batch(code_batch(rows), len(rows), spec.ngram_code, "word"), True))
            else:
                joined = normalize_batch(rows, spec.lowercase, spec.punctuation, collapse)
                out.append((idx, shingle_batch(joined, len(rows), spec.ngram, spec.kind), False))
        return out

    def shingles(self, texts: Sequence[str]) -> Shingles:
        """The shingles of a batch whose rows all take one view (``normalize``
        ``text``, or ``code``); ``parts`` handles mixed ones."""
        parts = self.parts(texts)
        if len(parts) != 1:
            raise ValueError("a batch with both text and code rows: use parts()")
        return parts[0][1]

    def hashed(self, sh: Shingles, code: bool) -> tuple[np.ndarray, list[np.ndarray], np.ndarray | None]:
        """``(exact-duplicate key per row, [poly hash per shingle] per view, concrete code tokens
        or None)``. A text part has one view; a code part two (its abstract views, see
        ``codeview``), and its key is the hash of its concrete tokens."""
        if not code:
            tok = self.poly.token_hashes(sh)
            return self.poly.row_hashes(sh, tok), [self.poly.hash_shingles(sh, tok)], None
        if self._views is None:
            self._views = ViewHasher(self.poly)
        marked = take_marks(sh)
        abstract, literal, concrete = self._views.views(sh, self.poly.token_hashes(sh), marked)
        shingles = [self.poly.hash_shingles(sh, abstract), self.poly.hash_shingles(sh, literal)]
        return self.poly.row_hashes(sh, concrete), shingles, concrete

    def shingle_hashes(self, sh: Shingles, tok_hashes: np.ndarray | None = None, code: bool = False) -> np.ndarray:
        """One hash per shingle: uint64 (``fast``, and every code part) or uint32
        (compat modes: datasketch's hash of the shingle text)."""
        if code:
            return self.hashed(sh, True)[1][0]
        if self.mode == "fast":
            return self.poly.hash_shingles(sh, tok_hashes)
        return sha1_hash32(sh)

    # --- signatures -----------------------------------------------------------------
    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        """``uint32 [len(texts), num_perm]``; see the module doc."""
        out = np.zeros((len(texts), self.num_perm), dtype=np.uint32)
        for idx, sh, code in self.parts(texts) if len(texts) else ():
            out[idx] = self.signatures_from(self.shingle_hashes(sh, code=code), sh.counts)
        return out

    def signatures_from(self, hashes: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Signatures of rows whose shingle hashes are ``hashes``, grouped by row
        with ``counts[i]`` hashes for row ``i``."""
        n_rows = counts.size
        out = np.full((n_rows, self.num_perm), EMPTY, dtype=np.uint32)
        nonempty = counts > 0
        if not nonempty.any():
            return out
        offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))[nonempty]
        compact = np.empty((self.num_perm, offsets.size), dtype=np.uint32)
        if self.mode == "compat":
            self._legacy(hashes.astype(np.uint64), offsets, compact)
        else:
            # fast: the low 32 bits of an fmix64 output are already well mixed.
            h = hashes.astype(np.uint32) if self.mode == "fast" else fmix32(hashes.astype(np.uint32))
            self._affine32(h, offsets, compact)
        out[nonempty] = compact.T
        return out

    def _affine32(self, h: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> None:
        buf = np.empty_like(h)
        for p in range(self.num_perm):
            np.multiply(h, self.a[p], out=buf)   # uint32 wraps: mod 2**32 for free
            buf += self.b[p]
            np.minimum.reduceat(buf, offsets, out=out[p])

    def _legacy(self, h: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> None:
        buf = np.empty_like(h)
        for p in range(self.num_perm):
            # a*h overflows uint64 and wraps before the modulus; datasketch does
            # the same arithmetic, and matching it bit for bit is the point.
            np.multiply(h, self.a[p], out=buf)
            buf += self.b[p]
            np.remainder(buf, _MERSENNE, out=buf)
            np.bitwise_and(buf, _MASK32, out=buf)
            out[p] = np.minimum.reduceat(buf, offsets)

    # --- interop --------------------------------------------------------------------
    def to_datasketch(self, signature: np.ndarray):
        """A ``datasketch.MinHash`` holding ``signature`` (compat modes only)."""
        if self.mode == "fast":
            raise ValueError("mode 'fast' uses its own shingle hash; only compat signatures "
                             "can be shared with datasketch (set mode: compat)")
        from datasketch import MinHash

        scheme = "legacy" if self.mode == "compat" else "affine32"
        values = signature.astype(np.uint64 if scheme == "legacy" else np.uint32)
        return MinHash(seed=self.seed, hashvalues=values, scheme=scheme,
                       permutations=(self.a, self.b))


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Fraction of equal positions; works row-wise on 2-D arrays."""
    return np.mean(sig_a == sig_b, axis=-1)

"""Shingles (word or character n-grams) of a normalised batch, hashed with numpy.

Input is the ``SEP``-joined string from :func:`normalize.normalize_batch`; tokens
are maximal runs of characters other than space and ``SEP``.

- ``kind="word"``: ``n`` consecutive tokens; ``kind="char"``: ``n`` consecutive
  characters (needs ``collapse=True``).
- A non-empty row shorter than ``n`` gives one shingle (the row); an empty row none.
  Shingles never cross a row boundary.

``hash_shingles``: a polynomial span hash over code points read off prefix sums
(mod 2**64), mixed with MurmurHash3's finaliser. ``row_hashes`` is the exact-duplicate
key; ``sha1_hash32`` matches datasketch's (compat modes only).

Memory: about 40 bytes a character of the batch plus ~40 a token and a shingle.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

KINDS = ("word", "char")
_BASE = 0x100000001B3          # odd (FNV-64 prime), so it is invertible mod 2**64
_BASE_INV = pow(_BASE, -1, 1 << 64)
_LEN_MIX = np.uint64(0x9E3779B97F4A7C15)  # folds the span length in before mixing
_SPACE, _NUL = 32, 0


@dataclass
class Shingles:
    """Tokens and shingles of a batch of ``n_rows`` rows, grouped by row."""

    joined: str               # the SEP-joined normalised batch the offsets refer to
    codepoints: np.ndarray    # uint32 [len(joined)]
    kind: str
    tok_start: np.ndarray     # int64 [T] code-point offset of each token
    tok_end: np.ndarray       # int64 [T] exclusive
    tok_count: np.ndarray     # int64 [n_rows] tokens per row
    lo: np.ndarray            # int64 [S] word: first token; char: first code point
    hi: np.ndarray            # int64 [S] word: last token + 1; char: last code point + 1
    counts: np.ndarray        # int64 [n_rows] shingles per row

    @property
    def n_rows(self) -> int:
        return int(self.counts.size)

    def strings(self, row: int) -> list[str]:
        """The shingles of one row as text (reference path, compat tests)."""
        first = int(self.counts[:row].sum())
        out = []
        for k in range(first, first + int(self.counts[row])):
            out.append(self.shingle_text(k))
        return out

    def shingle_text(self, k: int) -> str:
        lo, hi = int(self.lo[k]), int(self.hi[k])
        if self.kind == "char":
            return self.joined[lo:hi]
        return " ".join(self.joined[int(s):int(e)] for s, e in zip(self.tok_start[lo:hi], self.tok_end[lo:hi]))


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: an avalanching bijection on uint64."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser (what datasketch's affine32 scheme pre-mixes with)."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def codepoints(joined: str) -> np.ndarray:
    """The string as a uint32 array of code points (one C-level encode, no loop)."""
    return np.frombuffer(joined.encode("utf-32-le"), dtype="<u4").astype(np.uint32, copy=False)


def shingle_batch(joined: str, n_rows: int, n: int = 5, kind: str = "word") -> Shingles:
    """Find every token and shingle of a ``SEP``-joined normalised batch."""
    if kind not in KINDS:
        raise ValueError(f"shingle kind must be one of {KINDS}, got {kind!r}")
    if n < 1:
        raise ValueError(f"shingle size must be >= 1, got {n}")
    cp = codepoints(joined)
    seps = np.flatnonzero(cp == _NUL)
    if seps.size != n_rows - 1:
        raise ValueError(f"batch holds {seps.size + 1} rows, expected {n_rows}")
    is_tok = (cp != _SPACE) & (cp != _NUL)
    prev = np.concatenate(([False], is_tok[:-1]))
    nxt = np.concatenate((is_tok[1:], [False]))
    tok_start = np.flatnonzero(is_tok & ~prev)
    tok_end = np.flatnonzero(is_tok & ~nxt) + 1
    tok_row = np.searchsorted(seps, tok_start).astype(np.int64)
    tok_count = np.bincount(tok_row, minlength=n_rows).astype(np.int64)
    if kind == "word":
        lo, hi, rows = _windows(tok_row, tok_count, n)
    else:
        pos = np.flatnonzero(cp != _NUL)
        char_row = np.searchsorted(seps, pos).astype(np.int64)
        first, last, rows = _windows(char_row, np.bincount(char_row, minlength=n_rows), n)
        lo, hi = pos[first], pos[last - 1] + 1
    counts = np.bincount(rows, minlength=n_rows).astype(np.int64)
    return Shingles(joined, cp, kind, tok_start, tok_end, tok_count, lo, hi, counts)


def _windows(unit_row: np.ndarray, count: np.ndarray, n: int):
    """Units (tokens or chars) labelled by a sorted row index -> ``(first unit,
    last unit + 1, row)`` of each n-window inside one row, plus one whole-row
    window for rows shorter than ``n``."""
    first = np.concatenate(([0], np.cumsum(count)[:-1])).astype(np.int64)
    j = np.arange(unit_row.size, dtype=np.int64)
    end_of_row = (first + count)[unit_row]
    full = j + n <= end_of_row
    short = (j == first[unit_row]) & (count[unit_row] < n)
    keep = full | short
    j = j[keep]
    return j, np.minimum(j + n, end_of_row[keep]), unit_row[keep]


def _power_table(base: int, size: int) -> np.ndarray:
    """``base ** i mod 2**64`` for ``i < size`` (a power of two), by doubling:
    log2(size) vectorised multiplies instead of a sequential cumprod."""
    out = np.empty(size, dtype=np.uint64)
    out[0] = 1
    step = 1
    while step < size:
        np.multiply(out[:step], np.uint64(pow(base, step, 1 << 64)), out=out[step:2 * step])
        step *= 2
    return out


class PolyHasher:
    """Position-independent span hashes of integer arrays.

    Keeps the powers of the base (and of its inverse) between calls, grown to
    the longest array seen, so a worker pays for them once.
    """

    def __init__(self) -> None:
        self._pow = np.ones(1, dtype=np.uint64)
        self._inv = np.ones(1, dtype=np.uint64)

    def __getstate__(self) -> dict:
        return {}  # the tables are rebuilt on demand: do not ship 16 MB to a worker

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def _powers(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        if self._pow.size < length:
            size = 1 << max(20, (length - 1).bit_length())  # grow to a power of two, >= 1M
            self._pow, self._inv = _power_table(_BASE, size), _power_table(_BASE_INV, size)
        return self._pow[:length], self._inv[:length]

    def hash_spans(self, values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """uint64 hash of each ``values[starts[i]:ends[i]]`` (content only, not position)."""
        if starts.size == 0:
            return np.zeros(0, dtype=np.uint64)
        powers, inverse = self._powers(values.size)
        prefix = np.empty(values.size + 1, dtype=np.uint64)
        prefix[0] = 0
        np.cumsum(values.astype(np.uint64) * powers, out=prefix[1:])
        h = (prefix[ends] - prefix[starts]) * inverse[starts]
        return fmix64(h ^ ((ends - starts).astype(np.uint64) * _LEN_MIX))

    def hash_text(self, text: str) -> int:
        """The hash of a whole string: equal to ``hash_spans`` over any span holding it."""
        cp = codepoints(text)
        return int(self.hash_spans(cp, np.zeros(1, np.int64), np.array([cp.size], np.int64))[0])

    def token_hashes(self, sh: Shingles) -> np.ndarray:
        return self.hash_spans(sh.codepoints, sh.tok_start, sh.tok_end)

    def hash_shingles(self, sh: Shingles, tok_hashes: np.ndarray | None = None) -> np.ndarray:
        """uint64 hash of every shingle, in order."""
        if sh.kind == "char":
            return self.hash_spans(sh.codepoints, sh.lo, sh.hi)
        th = self.token_hashes(sh) if tok_hashes is None else tok_hashes
        return self.hash_spans(th, sh.lo, sh.hi)

    def row_hashes(self, sh: Shingles, tok_hashes: np.ndarray | None = None) -> np.ndarray:
        """uint64 hash of each row's token sequence; 0 for a row without tokens."""
        th = self.token_hashes(sh) if tok_hashes is None else tok_hashes
        first = np.concatenate(([0], np.cumsum(sh.tok_count)[:-1])).astype(np.int64)
        out = np.zeros(sh.n_rows, dtype=np.uint64)
        has = sh.tok_count > 0
        out[has] = self.hash_spans(th, first[has], (first + sh.tok_count)[has])
        return out


def sha1_hash32(sh: Shingles) -> np.ndarray:
    """datasketch's ``sha1_hash32`` of every shingle's UTF-8 bytes, as uint32.

    Slices the joined string directly, which is the shingle text only when the
    batch was normalised with ``collapse=True`` (single spaces)."""
    joined = sh.joined
    if sh.kind == "word":
        starts, ends = sh.tok_start[sh.lo], sh.tok_end[sh.hi - 1]
    else:
        starts, ends = sh.lo, sh.hi
    digests = b"".join(hashlib.sha1(joined[s:e].encode("utf-8")).digest()[:4]
                       for s, e in zip(starts.tolist(), ends.tolist()))
    return np.frombuffer(digests, dtype="<u4").astype(np.uint32)

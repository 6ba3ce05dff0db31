"""Is one code row the other with names renamed? The check behind a code pair's merge.

``renamed_similarity(a, b)`` takes two rows' concrete token arrays (from
:mod:`synthkit.dedup.codeview`: every token by value, names and words inside
strings marked by kind) and returns a similarity in [0, 1]:

1. Align the two streams with every name abstracted, so renamed names line
   up: position by position when that matches most tokens (a pure renaming
   keeps the token count), else by the ``NGRAM``-token windows that occur
   once in each row, else (few such anchors) by ``difflib``.
2. Infer ONE renaming: each aligned pair of names votes ``old -> new``; the
   most voted pairs are taken greedily, one-to-one (a name maps to one name
   and no two names map to the same one; identity pairs claim their names too).
3. Apply it to the first row everywhere: to its names, and to the words of its
   strings that spell a renamed name (a message or f-string renamed with the
   code); and to the words of the second row's strings that still spell an old
   name (a message the rename left alone).
4. Score: Jaccard of the two rows' ``NGRAM``-token shingle sets after the
   renaming, every token by value (strings and docstrings included), scaled
   down when the renaming explains more than the rows share: the distinct
   names and string words both rows hold verbatim must number at least the
   renamed names, and at least ``MIN_SHARED``. Two getters of different
   fields (``return self._days`` / ``return self._seconds``) are one renaming
   apart but share nothing else, so they score 0.

Pairs whose shingles with every name abstracted have Jaccard below
``PREFILTER`` score 0 without the alignment (the cheap common case).

So a copy with a few names renamed (locals, parameters, the function's name,
attributes, in code and in messages) scores about 1, while two functions that
share a shape but differ in a string, a docstring, a constant or most of their
names score low, whatever way the names were chosen. Cost: a few numpy passes over
the two token arrays (tens of microseconds a pair; ``difflib``, about 1 ms for
300 tokens, only for pairs that differ in length and have few anchors);
candidate pairs only.
"""

from __future__ import annotations

import difflib
import logging
from collections import Counter

import numpy as np

from synthkit.dedup.codeview import ATTR, NAME, OTHER, WORD
from synthkit.dedup.shingles import fmix64

log = logging.getLogger(__name__)

NGRAM = 5
MIN_SHARED = 2          # distinct names/words both rows keep verbatim, at the least
CODE_THRESHOLD = 0.9    # the least renamed_similarity that merges two code rows (or the dedup threshold)
PREFILTER = 0.25        # shingle Jaccard with every name abstracted, below which a pair is not verified
CODE_MARK = np.uint64(0xC0DEC0DEC0DEC0DE)  # first element of a code row's stored token array
_KIND = np.uint64(3)
_SHIFT = np.uint64(2)
_NAME, _ATTR, _WORD = np.uint64(NAME), np.uint64(ATTR), np.uint64(WORD)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _windows(tok: np.ndarray, n: int) -> np.ndarray:
    """Hash of every ``n``-token window, in order (one window, the whole row, if shorter)."""
    n = max(1, min(n, tok.size))
    m = tok.size - n + 1
    h = tok[:m].copy()
    for k in range(1, n):  # polynomial in the tokens (uint64 wraps), mixed once
        h *= _MIX
        h += tok[k:k + m]
    return fmix64(h)


def _shingles(tok: np.ndarray, n: int = NGRAM) -> np.ndarray:
    """Sorted distinct hashes of the ``n``-token windows (the whole row if shorter)."""
    return np.unique(_windows(tok, n)) if tok.size else tok


def _renamable(tok: np.ndarray) -> np.ndarray:
    kind = tok & _KIND
    return (kind == _NAME) | (kind == _ATTR)


def _anchors(wx: np.ndarray, wy: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Aligned positions ``(i, j)`` from the window hashes of two rows: the tokens of every
    window that occurs exactly once in each row (each pair once)."""
    ux, ix, cx = np.unique(wx, return_index=True, return_counts=True)
    uy, iy, cy = np.unique(wy, return_index=True, return_counts=True)
    _, kx, ky = np.intersect1d(ux[cx == 1], uy[cy == 1], assume_unique=True, return_indices=True)
    step = np.arange(n)
    i = (ix[cx == 1][kx][:, None] + step).ravel()
    j = (iy[cy == 1][ky][:, None] + step).ravel()
    _, first = np.unique(i * (wy.size + n) + j, return_index=True)
    return i[first], j[first]


def _align(xa: np.ndarray, xb: np.ndarray, wa: np.ndarray, wb: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Aligned positions of two name-abstracted rows: position by position when they are as
    long and mostly equal (a pure renaming), else the unique-window anchors, else (anchors
    covering under half the shorter row) ``difflib``'s matching blocks."""
    if xa.size == xb.size:
        same = np.flatnonzero(xa == xb)
        if same.size * 2 >= xa.size:
            return same, same
    i, j = _anchors(wa, wb, n)
    if i.size * 2 >= min(xa.size, xb.size):
        return i, j
    blocks = difflib.SequenceMatcher(None, xa.tolist(), xb.tolist(), autojunk=False).get_matching_blocks()
    i = [p for x, _, size in blocks for p in range(x, x + size)]
    j = [p for _, y, size in blocks for p in range(y, y + size)]
    return np.array(i, dtype=np.int64), np.array(j, dtype=np.int64)


def infer_renaming(a: np.ndarray, b: np.ndarray, i: np.ndarray | None = None,
                   j: np.ndarray | None = None) -> dict[int, int]:
    """The one-to-one renaming ``token of a -> token of b`` (names and attributes apart:
    renaming a parameter leaves an attribute of the same name alone) voted by the names
    that the alignment ``(i, j)`` pairs up (computed when not given); identity pairs left out."""
    if i is None:
        n = min(NGRAM, a.size, b.size)
        xa, xb = _names_abstracted(a), _names_abstracted(b)
        i, j = _align(xa, xb, _windows(xa, n), _windows(xb, n), n)
    named = _renamable(a[i])
    if not named.any():
        return {}
    votes = Counter(zip(a[i[named]].tolist(), b[j[named]].tolist()))
    mapping: dict[int, int] = {}
    taken: set[int] = set()
    for (x, y), _ in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])):
        if x in mapping or y in taken:
            continue
        mapping[x] = y
        taken.add(y)
    return {x: y for x, y in mapping.items() if x != y}


def _names_abstracted(tok: np.ndarray) -> np.ndarray:
    return np.where(_renamable(tok), tok & _KIND, tok)


def apply_renaming(tok: np.ndarray, mapping: dict[int, int], names: bool = True) -> np.ndarray:
    """``tok`` with its names and attributes in ``mapping`` renamed (``names``), and every
    string word that spells a renamed name (or attribute) spelled as the new one."""
    if not mapping:
        return tok
    out = tok.copy()
    if names:
        keys = np.array(sorted(mapping), dtype=np.uint64)
        values = np.array([mapping[k] for k in keys.tolist()], dtype=np.uint64)
        hit = _renamable(tok) & np.isin(tok, keys)
        out[hit] = values[np.searchsorted(keys, tok[hit])]
    by_base: dict[int, int] = {}
    for x, y in sorted(mapping.items(), key=lambda kv: (kv[0] & 3) != NAME):  # names before attributes
        by_base.setdefault(x >> 2, y >> 2)
    keys = np.array(sorted(by_base), dtype=np.uint64)
    values = np.array([by_base[k] for k in keys.tolist()], dtype=np.uint64)
    base = tok >> _SHIFT
    hit = ((tok & _KIND) == _WORD) & np.isin(base, keys)
    out[hit] = (values[np.searchsorted(keys, base[hit])] << _SHIFT) | _WORD
    return out


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / max(1, a.size + b.size - inter)


def _evidence(tok: np.ndarray) -> np.ndarray:
    """Distinct bases of the row's names, attributes and string words (what a renaming could change)."""
    return np.unique(tok[(tok & _KIND) != np.uint64(OTHER)] >> _SHIFT)


def renamed_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """See the module doc. Symmetric up to alignment ties."""
    if a.size == 0 or b.size == 0:
        return float(a.size == b.size)
    n = min(NGRAM, a.size, b.size)
    wa, wb = _windows(_names_abstracted(a), n), _windows(_names_abstracted(b), n)
    if _jaccard(np.unique(wa), np.unique(wb)) < PREFILTER:
        return 0.0  # names aside, too little in common: no renaming can fix that
    mapping = infer_renaming(a, b, *_align(_names_abstracted(a), _names_abstracted(b), wa, wb, n))
    # a string of b that still spells an old name (a message the rename missed) counts as renamed too
    jac = _jaccard(_shingles(apply_renaming(a, mapping)), _shingles(apply_renaming(b, mapping, names=False)))
    shared = np.intersect1d(_evidence(a), _evidence(b), assume_unique=True)
    renamed = np.array(sorted({x >> 2 for x in mapping}), dtype=np.uint64)
    shared = np.setdiff1d(shared, renamed, assume_unique=True).size
    return jac * min(1.0, shared / max(MIN_SHARED, len(mapping) - 1))


def pair_verdict(a: np.ndarray, b: np.ndarray, threshold: float, verify_text: bool) -> bool:
    """Merge two rows? Their stored arrays: code rows (``CODE_MARK`` first) by
    ``renamed_similarity`` (at least ``CODE_THRESHOLD``: a renamed copy scores about 1); text rows by shingle-set Jaccard when ``verify_text``
    (else yes); a code row never merges with a text row."""
    code_a = a.size > 0 and a[0] == CODE_MARK
    code_b = b.size > 0 and b[0] == CODE_MARK
    if code_a and code_b:
        return renamed_similarity(a[1:], b[1:]) >= max(threshold, CODE_THRESHOLD)
    if code_a or code_b:
        return False
    if not verify_text:
        return True
    if a.size == 0 and b.size == 0:
        return True
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter) >= threshold

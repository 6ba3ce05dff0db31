"""Is one code row the other with names renamed? The check behind a code pair's merge.

``renamed_similarity(a, b)`` takes two rows' concrete token arrays (from
:mod:`synthkit.dedup.codeview`) and returns a similarity in [0, 1]:

1. Align the streams with every name abstracted (position by position, else by
   unique ``NGRAM`` anchors, else ``difflib``).
2. Infer ONE one-to-one renaming from the aligned name pairs (most votes first).
   A renaming that changes a name free in both rows (a global, a builtin, a module)
   or an attribute of nothing either row owns needs ``FOREIGN_SHARED`` shared names
   and words, not ``MIN_SHARED`` (step 4): such rows may call or read different
   things (``ItemsView``/``KeysView`` twins), which renaming a row's own names (bound
   names, attributes of ``self`` or of a bound name) never does.
3. Apply it to the first row's names and string words (and to old names left in
   the second row's strings).
4. Score: Jaccard of the ``NGRAM``-token shingle sets, scaled down when the renaming
   explains more than the rows share verbatim (floor ``MIN_SHARED``, see 2).

Pairs below ``PREFILTER`` on the abstract shingles score 0 without alignment.
Limit: a renamed copy cannot be told from a real twin one renaming of its own names
apart (``second``/``minute`` reading ``self._second``/``self._minute``).
Cost: ~0.1 ms for two 100-token functions (candidate pairs only).
"""

from __future__ import annotations

import difflib
import logging
from collections import Counter

import numpy as np

from synthkit.dedup.codeview import ATTR, FOREIGN, NAME, OTHER, WORD

log = logging.getLogger(__name__)

NGRAM = 5
MIN_SHARED = 2          # distinct names/words both rows keep verbatim, at the least
FOREIGN_SHARED = 6      # the same, when the renaming changes a free name or an attribute of nothing the rows own
CODE_THRESHOLD = 0.9    # the least renamed_similarity that merges two code rows (or the dedup threshold)
PREFILTER = 0.25        # shingle Jaccard with every name abstracted, below which a pair is not verified
CODE_MARK = np.uint64(0xC0DEC0DEC0DEC0DE)  # first element of a code row's stored token array
_RENAMABLE = (NAME, ATTR)


def _windows(tok: list[int], n: int) -> list[tuple[int, ...]]:
    """Every ``n``-token window, in order (the whole row as one window if shorter)."""
    if len(tok) <= n:
        return [tuple(tok)] if tok else []
    return list(zip(*(tok[k:] for k in range(n))))


def _jaccard(a: set, b: set) -> float:
    inter = len(a & b)
    return inter / max(1, len(a) + len(b) - inter)


def _names_abstracted(tok: list[int]) -> list[int]:
    return [t & 3 if t & 3 in _RENAMABLE else t for t in tok]


def _anchors(wx: list, wy: list, n: int) -> list[tuple[int, int]]:
    """Aligned positions from two rows' windows: the tokens of every window that occurs
    exactly once in each row."""
    cx, cy = Counter(wx), Counter(wy)
    start_y = {w: j for j, w in enumerate(wy) if cy[w] == 1}
    out = set()
    for i, w in enumerate(wx):
        j = start_y.get(w)
        if j is not None and cx[w] == 1:
            out.update((i + k, j + k) for k in range(min(n, len(w))))
    return sorted(out)


def _align(xa: list[int], xb: list[int], wa: list, wb: list, n: int) -> list[tuple[int, int]]:
    """Aligned positions of two name-abstracted rows: position by position when they are as
    long and mostly equal (a pure renaming), else the unique-window anchors, else (anchors
    covering under half the shorter row) ``difflib``'s matching blocks."""
    if len(xa) == len(xb):
        same = [p for p, (x, y) in enumerate(zip(xa, xb)) if x == y]
        if 2 * len(same) >= len(xa):
            return [(p, p) for p in same]
    pairs = _anchors(wa, wb, n)
    if 2 * len(pairs) >= min(len(xa), len(xb)):
        return pairs
    blocks = difflib.SequenceMatcher(None, xa, xb, autojunk=False).get_matching_blocks()
    return [(i + k, j + k) for i, j, size in blocks for k in range(size)]


def infer_renaming(a: list[int], b: list[int], aligned: list[tuple[int, int]] | None = None) -> dict[int, int]:
    """The one-to-one renaming ``token of a -> token of b`` (names and attributes apart:
    renaming a parameter leaves an attribute of the same name alone) voted by the names
    that the alignment pairs up (computed when not given); identity pairs left out."""
    if aligned is None:
        n = min(NGRAM, len(a), len(b))
        xa, xb = _names_abstracted(a), _names_abstracted(b)
        aligned = _align(xa, xb, _windows(xa, n), _windows(xb, n), n)
    votes = Counter((a[i], b[j]) for i, j in aligned if a[i] & 3 in _RENAMABLE)
    mapping: dict[int, int] = {}
    taken: set[int] = set()
    for (x, y), _ in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])):
        if x in mapping or y in taken:
            continue
        mapping[x] = y
        taken.add(y)
    return {x: y for x, y in mapping.items() if x != y}


def apply_renaming(tok: list[int], mapping: dict[int, int], names: bool = True) -> list[int]:
    """``tok`` with its names and attributes in ``mapping`` renamed (``names``), and every
    string word that spells a renamed name (or attribute) spelled as the new one."""
    if not mapping:
        return tok
    words: dict[int, int] = {}
    for x, y in sorted(mapping.items(), key=lambda kv: (kv[0] & 3) != NAME):  # names before attributes
        words.setdefault((x >> 2 << 2) | WORD, (y >> 2 << 2) | WORD)
    if names:  # the keys of the two tables differ in their kind bits: one lookup serves both
        words.update(mapping)
    return [words.get(t, t) for t in tok]


def _evidence(tok: list[int]) -> set[int]:
    """Distinct bases of the row's names, attributes and string words (what a renaming could change)."""
    return {t >> 2 for t in tok if t & 3 != OTHER}


def _pure_renaming(a: list[int], b: list[int]) -> dict[int, int] | None:
    """The renaming when ``b`` is exactly ``a`` under a one-to-one renaming of names (and of
    the string words that spell them): what the general path finds then, without windows."""
    if len(a) != len(b):
        return None
    mapping: dict[int, int] = {}
    for x, y in [(x, y) for x, y in zip(a, b) if x != y]:
        kind = x & 3
        if kind == WORD:
            continue  # must be explained by the renaming of a name, checked below
        if kind not in _RENAMABLE or y & 3 != kind or mapping.setdefault(x, y) != y:
            return None
    targets = set(mapping.values())
    kept = {t for t in a if t & 3 in _RENAMABLE} - mapping.keys()
    if len(targets) != len(mapping) or targets & kept:
        return None
    return mapping if apply_renaming(a, mapping) == apply_renaming(b, mapping, False) else None


_FOREIGN = np.uint64(FOREIGN)


def _split_foreign(tok: np.ndarray | list[int]) -> tuple[list[int], set[int]]:
    """The tokens without their ``FOREIGN`` bit, and the set of those that had it."""
    tok = np.asarray(tok, dtype=np.uint64)
    flagged = (tok & _FOREIGN) > 0
    return (tok & ~_FOREIGN).tolist(), set((tok[flagged] ^ _FOREIGN).tolist())


def renamed_similarity(a: np.ndarray | list[int], b: np.ndarray | list[int]) -> float:
    """See the module doc. Symmetric up to alignment ties."""
    a, foreign_a = _split_foreign(a)
    b, foreign_b = _split_foreign(b)
    if not a or not b:
        return float(len(a) == len(b))
    pure = _pure_renaming(a, b)
    if pure is not None:  # the common case: same tokens but for the renamed ones
        return _evidence_factor(a, b, pure, _floor(pure, foreign_a, foreign_b))
    n = min(NGRAM, len(a), len(b))
    xa, xb = _names_abstracted(a), _names_abstracted(b)
    wa, wb = _windows(xa, n), _windows(xb, n)
    if _jaccard(set(wa), set(wb)) < PREFILTER:
        return 0.0  # names aside, too little in common: no renaming can fix that
    mapping = infer_renaming(a, b, _align(xa, xb, wa, wb, n))
    # a string of b that still spells an old name (a message the rename missed) counts as renamed too
    jac = _jaccard(set(_windows(apply_renaming(a, mapping), n)), set(_windows(apply_renaming(b, mapping, False), n)))
    return jac * _evidence_factor(a, b, mapping, _floor(mapping, foreign_a, foreign_b))


def _floor(mapping: dict[int, int], foreign_a: set[int], foreign_b: set[int]) -> int:
    """The least number of names and words the rows must share verbatim for ``mapping`` to
    count as a renaming: ``MIN_SHARED``, or ``FOREIGN_SHARED`` when it changes something
    the rows do not own: a name free in both (a global, a module, a helper it calls) or an
    attribute of nothing either owns (``self.idb.set_step()``, ``base64.encodebytes``).
    Then the rows may call or read different things (``ItemsView``/``KeysView`` twins),
    which renaming a row's own names never does; or a copy renamed what it calls too, or
    an attribute across a code base. Only a larger shared context tells them apart."""
    if any(x in foreign_a and y in foreign_b for x, y in mapping.items()):
        return FOREIGN_SHARED
    return MIN_SHARED


def _evidence_factor(a: list[int], b: list[int], mapping: dict[int, int], floor: int) -> float:
    """1, or less when the rows share fewer distinct names and words verbatim than the
    renaming changed, or than ``floor`` (see the module doc)."""
    shared = len((_evidence(a) & _evidence(b)) - {x >> 2 for x in mapping})
    return min(1.0, shared / max(floor, len(mapping) - 1))


def pair_verdict(a: np.ndarray, b: np.ndarray, threshold: float, verify_text: bool) -> bool:
    """Merge two rows? Their stored arrays: code rows (``CODE_MARK`` first) by
    ``renamed_similarity`` (at least ``CODE_THRESHOLD``: a renamed copy scores
    about 1); text rows by shingle-set Jaccard when ``verify_text`` (else yes);
    a code row never merges with a text row."""
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

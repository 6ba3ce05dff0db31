r"""The code view of a batch, for dedup: one token stream, two sets of token hashes.

``code_batch(rows)`` turns Python rows into the ``SEP``-joined token string that
:func:`shingles.shingle_batch` cuts (one regex pass over the batch): comments,
continuations and parentheses dropped; a string literal becomes a start marker
(``\x02``, ``\x04`` for bytes), its words, and an end marker ``\x05``; a parameter's
name carries ``bindings.MARK``, which ``take_marks`` reads off before hashing.

``ViewHasher.views(sh, tok, marked)`` reads that stream, vectorised, into:

- **concrete**: every token by value with a 2-bit kind (``NAME``, ``ATTR``, ``WORD``,
  ``OTHER``) and a ``FOREIGN`` bit (a name the row does not bind, an attribute of
  nothing it owns: :mod:`synthkit.dedup.bindings`); what a candidate pair is verified
  on (:mod:`synthkit.dedup.renames`).
- **abstract** (what LSH shingles): renameable identifiers become one placeholder, in
  two flavours (string words that spell a name abstracted too, or kept as written).

Limits: a rename reaching some strings but not others, or to/from a kept name,
changes both flavours. The design: docs/dedup.md, "Code rows and renamed names".
"""

from __future__ import annotations

import builtins
import keyword
import re

import numpy as np

from synthkit.dedup.bindings import MARK, BindingTable, mark_parameters
from synthkit.dedup.normalize import SEP
from synthkit.dedup.shingles import PolyHasher, Shingles, fmix64

OTHER, NAME, WORD, ATTR = 0, 1, 2, 3
FOREIGN = 4  # third low bit of a concrete token: a free name, or an attribute of no object the row owns
PLACEHOLDER = "ID"
# Names that stay in the abstract view: keywords, exception classes and the builtins that
# are called, not named (a parameter called ``object``, ``input`` or ``type`` is a name).
_KEEP = (frozenset(keyword.kwlist)  # not the soft keywords: ``match``, ``case``, ``type`` are names too
         | frozenset(n for n in dir(builtins) if n[:1].isupper())
         | frozenset({"len", "isinstance", "issubclass", "range", "enumerate", "print", "super", "getattr",
                      "setattr", "hasattr", "delattr", "sorted", "reversed", "repr", "callable"}))
# Attributes that stay (on anything but ``self``/``cls``): methods of the builtin types.
_KEEP_ATTRS = frozenset(a for t in (str, bytes, list, dict, set, tuple, int, float, complex, object)
                        for a in dir(t) if not a.startswith("_"))
_NO_NUL = r"[^\x00]"
_STRING = (r'[rRbBuUfF]{0,2}(?:"""' + _NO_NUL + r'*?"""|\'\'\'' + _NO_NUL + r'*?\'\'\''
           r'|"(?:[^"\\\n\x00]|\\[^\x00])*"|\'(?:[^\'\\\n\x00]|\\[^\x00])*\')')
# the lookahead lets the engine skip, in C, every position that cannot start a match (2x faster)
_SCAN = re.compile(r"(?=[#\"'\\rRbBuUfF])(?:(?P<comment>#[^\n\x00]*)|(?P<str>" + _STRING + r")|(?P<cont>\\\n))")
_TOKEN = re.compile(r"\x03?\w+|\*\*=?|//=?|->|:=|[-+*/%@&|^<>=!]=|<<=?|>>=?|\S")
_MARKS = re.compile(r"[\x02\x04\x05]")
_ESCAPE = re.compile(r"\\[ntr]?")
_ADJACENT = re.compile(r"\x05\s*[\x02\x04]")  # "a" "b" is the literal "ab", as ast.unparse writes it
_WORD_SALT = np.uint64(0x5BD1E9955BD1E995)
_NAME_START = np.zeros(129, dtype=bool)  # index 128 stands for every non-ASCII first character
_NAME_START[[ord(c) for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"]] = True
_NAME_START[128] = True
_LOW_BITS = np.uint64(7)  # kind and FOREIGN
_ROW_MIX = np.uint64(0x9E3779B97F4A7C15)


def _scan(m: re.Match) -> str:
    if m.lastgroup != "str":
        return " "
    lit = m.group()
    body = lit.lstrip("rRbBuUfF")
    q = 3 if body[:3] in ('"""', "'''") and len(body) >= 6 else 1
    inner = body[q:-q]
    if "\x02" in inner or "\x04" in inner or "\x05" in inner:  # our markers, in the source: blanked
        inner = _MARKS.sub(" ", inner)
    if "\\" in inner:  # escapes: "\n" and a real newline, 'don\'t' and "don't" give the same words
        inner = _ESCAPE.sub(" ", inner)
    return (" \x04 " if "b" in lit[:len(lit) - len(body)].lower() else " \x02 ") + inner + " \x05 "


def code_batch(rows: list[str]) -> str:
    """The rows' code token streams, joined by ``SEP`` (tokens separated by spaces); a
    parameter's name carries ``MARK`` in front (``take_marks`` removes it)."""
    joined = SEP.join(r.replace(SEP, " ") if SEP in r else r for r in rows)
    if MARK in joined:
        joined = joined.replace(MARK, " ")
    text = mark_parameters(_ADJACENT.sub(" ", _SCAN.sub(_scan, joined))).replace("(", " ").replace(")", " ")
    return " ".join(_TOKEN.findall(text))


def take_marks(sh: Shingles) -> np.ndarray:
    """Which tokens of a ``code_batch`` stream carry ``MARK``; moves their start past it (once:
    a second call finds it moved), so a token hashes the same with or without."""
    mark = ord(MARK)
    sh.tok_start[sh.codepoints[sh.tok_start] == mark] += 1
    return (sh.tok_start > 0) & (sh.codepoints[np.maximum(sh.tok_start - 1, 0)] == mark)


_KEEP_BIT, _ATTR_BIT, _SELF_BIT, _FIXED_BIT = 1, 2, 4, 8


class ViewHasher:
    """Holds the hashes of the special names, each with its flags (computed once per process)."""

    def __init__(self, poly: PolyHasher) -> None:
        self.poly = poly
        flags: dict[int, int] = {}
        fixed = (*keyword.kwlist, "self", "cls", *(n for n in dir(builtins) if n[:1].isupper()))
        for names, bit in ((_KEEP, _KEEP_BIT), (_KEEP_ATTRS, _ATTR_BIT), (("self", "cls"), _SELF_BIT),
                           (fixed, _FIXED_BIT)):
            for w in names:
                h = poly.hash_text(w)
                flags[h] = flags.get(h, 0) | bit
        self.keys = np.array(sorted(flags), dtype=np.uint64)
        self.flags = np.array([flags[k] for k in sorted(flags)] + [0], dtype=np.uint8)
        self.dot = np.uint64(poly.hash_text("."))
        self.placeholder = np.uint64(poly.hash_text(PLACEHOLDER))
        self.bindings = BindingTable(poly)

    def _flags(self, tok: np.ndarray) -> np.ndarray:
        """Each token's flags (0 for an ordinary token): one search in the sorted table."""
        at = np.searchsorted(self.keys, tok)
        hit = self.keys[np.minimum(at, self.keys.size - 1)] == tok
        return self.flags[np.where(hit, at, self.keys.size)]

    def views(self, sh: Shingles, tok: np.ndarray, marked: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(abstract token hashes, the same with every string word as written, concrete
        tokens with kinds)`` of a ``code_batch`` stream; ``marked``: ``take_marks``."""
        first = sh.codepoints[sh.tok_start]
        opens = (first == 2) | (first == 4)
        is_word = (np.cumsum(opens) - np.cumsum(first == 5) > 0) & ~opens  # between the markers
        is_name = _NAME_START[np.minimum(first, 128)] & ~is_word
        base = tok
        row = np.repeat(np.arange(sh.n_rows, dtype=np.uint64), sh.tok_count)
        same_row = np.zeros(tok.size, dtype=bool)
        same_row[1:] = row[1:] == row[:-1]
        after_dot = np.zeros(tok.size, dtype=bool)
        after_dot[1:] = (tok[:-1] == self.dot) & same_row[1:]
        flags = self._flags(tok)
        is_self = (flags & _SELF_BIT) > 0
        on_self = np.zeros(tok.size, dtype=bool)
        on_self[2:] = after_dot[2:] & is_self[:-2] & same_row[1:-1]
        kept = np.where(after_dot, ((flags & _ATTR_BIT) > 0) & ~on_self, (flags & _KEEP_BIT) > 0)
        kept |= self._dunders(sh, is_name) | is_self
        abstract = tok.copy()
        renamable = is_name & ~kept
        abstract[renamable] = self.placeholder
        abstract[is_word] ^= _WORD_SALT  # a word of a string is not the code token it spells
        literal = abstract.copy()
        key = fmix64(base ^ (row * _ROW_MIX))  # a token's spelling within its row
        if is_word.any():  # a word in a string that spells an identifier of its row
            abstract[is_word & np.isin(key, key[renamable])] = self.placeholder
        fixed = (flags & _FIXED_BIT) > 0  # keywords, self, cls, builtin classes: never renamed
        kind = np.where(is_name & ~fixed, np.where(after_dot, ATTR, NAME), np.where(is_word, WORD, OTHER))
        binding = self.bindings.bound(tok, is_name & ~after_dot, same_row, marked)
        foreign = self._foreign(kind, key, binding, on_self, after_dot, same_row)
        kind = kind.astype(np.uint64) | np.where(foreign, np.uint64(FOREIGN), np.uint64(0))
        return abstract, literal, (base & ~_LOW_BITS) | kind

    @staticmethod
    def _foreign(kind: np.ndarray, key: np.ndarray, binding: np.ndarray, on_self: np.ndarray,
                 after_dot: np.ndarray, same_row: np.ndarray) -> np.ndarray:
        """The names the row does not bind (no ``binding`` occurrence in the row) and the
        attributes it reads on nothing it owns: at no occurrence on ``self``/``cls`` or on
        a name it binds (``x.attr``, not ``x.y.attr``)."""
        name, attr = kind == NAME, kind == ATTR
        out = np.zeros(kind.size, dtype=bool)
        bound = np.zeros(kind.size, dtype=bool)
        at = np.flatnonzero(name)
        bound[at] = np.isin(key[at], key[binding & name])
        out[at] = ~bound[at]
        owner = np.zeros(kind.size, dtype=bool)  # the object before the dot: self, cls, a bound name
        owner[2:] = (on_self[2:] | (bound[:-2] & ~after_dot[:-2])) & after_dot[2:] & same_row[1:-1]
        at = np.flatnonzero(attr)
        out[at] = ~np.isin(key[at], key[attr & owner])
        return out

    @staticmethod
    def _dunders(sh: Shingles, is_name: np.ndarray) -> np.ndarray:
        cp, s, e = sh.codepoints, sh.tok_start, sh.tok_end
        long_enough = is_name & (e - s > 4)
        out = np.zeros(s.size, dtype=bool)
        idx = np.flatnonzero(long_enough)
        u = ord("_")
        out[idx] = (cp[s[idx]] == u) & (cp[s[idx] + 1] == u) & (cp[e[idx] - 1] == u) & (cp[e[idx] - 2] == u)
        return out

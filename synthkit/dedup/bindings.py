r"""Which names a code row binds, for the code view of dedup.

A row's *bound* names are its ``def``/``class`` names, parameters, assignment and
augmented-assignment targets, ``for`` targets (comprehensions too), ``as`` names,
imported names, ``global``/``nonlocal`` names, walrus targets and ``lambda``
parameters. The rest of its names are *free*: globals, builtins, modules. Renaming a
bound name (or an attribute of ``self``) keeps the program; renaming a free name
calls something else. That tells a renamed copy from a twin function (``read`` and
``write`` calling ``handle_read_event`` and ``handle_write_event``); see
:mod:`synthkit.dedup.renames`.

Two steps, both over a whole batch at once:

- ``mark_parameters(text)``: a regex over the ``code_batch`` text (before its
  parentheses go) puts ``MARK`` before each parameter of a ``def``, the one place
  where the parentheses matter; ``codeview.take_marks`` reads the marks off.
- ``BindingTable.bound(...)``: every other binding place, from the token stream with
  numpy: a name before ``=`` (or ``+=``, ``:=``...), with the names before it in a
  ``a, b =`` list; a name after ``for``, ``as``, ``import``, ``global``,
  ``nonlocal``, ``class``, ``def``, ``lambda``, with the names after it in a list.

Limits (a regex and token rules, not a parser; rows need not parse): a keyword
argument's name, a call argument before one (``f(a, b=1)``) and the names after a
comma inside a parameter's default count as bound (the check then lets their renaming
pass, as it did before this rule); a target behind a subscript or a star
(``a, *rest =``), a list of more than ``_CHAIN`` targets, and a ``def`` header with
parentheses nested twice count as free (a copy that renames such a name is missed).
"""

from __future__ import annotations

import re

import numpy as np

from synthkit.dedup.shingles import PolyHasher

MARK = "\x03"
# ``def name(params)``, one level of parentheses inside (a default's call); "def" is a
# literal prefix, which the engine scans for in C.
_DEF = re.compile(r"def(\s+\w+\s*(?:\[[^\]\n]*\]\s*)?\()([^()]*(?:\([^()]*\)[^()]*)*)\)")
_SLIDE = re.compile(MARK + r"([\s*]+)")  # a mark slides past the spaces and stars before a name
_STRAY = re.compile(MARK + r"(?![^\W\d])")  # a mark before no name (``, 2`` in a default) goes
_ASSIGN = ("=", ":=", "+=", "-=", "*=", "/=", "//=", "%=", "@=", "&=", "|=", "^=", "<<=", ">>=", "**=")
_BINDERS = ("for", "as", "import", "global", "nonlocal", "class", "def", "lambda")
_CHAIN = 4  # names in an ``a, b, c, d =`` (or ``for a, b, c, d``) list seen, at most


def _marked(m: re.Match) -> str:
    return "def" + m.group(1) + MARK + m.group(2).replace(",", "," + MARK) + ")"


def mark_parameters(text: str) -> str:
    """``text`` with ``MARK`` before the name of every parameter of every ``def`` (and
    before the names after a comma inside a default)."""
    if "def" not in text:
        return text
    return _STRAY.sub("", _SLIDE.sub(r"\1" + MARK, _DEF.sub(_marked, text)))


class BindingTable:
    """The hashes of the tokens the rules look for (one per hasher)."""

    def __init__(self, poly: PolyHasher) -> None:
        self.assign = np.array(sorted(poly.hash_text(t) for t in _ASSIGN), dtype=np.uint64)
        self.binders = np.array(sorted(poly.hash_text(t) for t in _BINDERS), dtype=np.uint64)
        self.comma = np.uint64(poly.hash_text(","))

    def bound(self, tok: np.ndarray, name: np.ndarray, same_row: np.ndarray, marked: np.ndarray) -> np.ndarray:
        """Which occurrences bind their name: ``tok`` the token hashes, ``name`` the name
        tokens (not attributes, not string words), ``same_row[i]``: token ``i - 1`` is in
        token ``i``'s row, ``marked``: the parameters ``mark_parameters`` found."""
        def before(mask: np.ndarray) -> np.ndarray:  # the token before satisfies mask
            out = np.zeros(mask.size, dtype=bool)
            out[1:] = mask[:-1] & same_row[1:]
            return out

        def after(mask: np.ndarray) -> np.ndarray:  # the token after satisfies mask
            out = np.zeros(mask.size, dtype=bool)
            out[:-1] = mask[1:] & same_row[1:]
            return out

        comma = tok == self.comma
        target = name & after(np.isin(tok, self.assign))
        listed = name & before(np.isin(tok, self.binders))
        for _ in range(_CHAIN - 1):
            target |= name & after(comma & after(target))
            listed |= name & before(comma & before(listed))
        return (marked & name) | target | listed

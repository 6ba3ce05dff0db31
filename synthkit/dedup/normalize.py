r"""Text normalisation for near-duplicate detection, done a whole batch at a time.

``normalize_batch(texts)`` returns ONE string, the normalised rows joined by ``SEP``
(NUL; NULs in the input become spaces). Tokens inside a row are separated by one
space (``collapse=False``: one or more). Options: ``lowercase`` (default True);
``punctuation``: ``"drop"`` (default: only ``\w`` runs), ``"split"`` (each
punctuation character a token) or ``"keep"`` (whitespace collapsed only).

``code_rows(texts, normalize=...)`` decides per row between that text view and the
code view of :mod:`synthkit.dedup.codeview`: ``"text"``, ``"code"``, or ``"auto"``
(a row that is one definition, or else parses as Python, is code).

``row_text`` joins a row's configured columns with a newline (``None`` is empty,
lists and dicts JSON-encoded).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Iterable, Sequence

log = logging.getLogger(__name__)

SEP = "\x00"
PUNCTUATION = ("drop", "split", "keep")
NORMALIZE = ("text", "code", "auto")

_PUNCT_CHAR = re.compile(r"([^\w\s\x00])")


def as_text(value: Any) -> str:
    """A column value as text: str as is, None empty, anything else JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def row_text(row: dict[str, Any], columns: Sequence[str]) -> str:
    """The text compared for ``row``: its ``columns`` joined by a newline."""
    if len(columns) == 1:
        return as_text(row.get(columns[0]))
    return "\n".join(as_text(row.get(c)) for c in columns)


def column_texts(columns: dict[str, list[Any]], names: Sequence[str]) -> list[str]:
    """Like :func:`row_text` over a columnar batch (name -> list of values)."""
    cols = [columns[c] for c in names]
    if len(cols) == 1:
        return [as_text(v) for v in cols[0]]
    return ["\n".join(as_text(v) for v in vals) for vals in zip(*cols)]


def _ascii_table(keep_word: bool) -> dict[int, str]:
    """str.translate table: ASCII whitespace (and, for ``keep_word``, every ASCII
    non-word character) becomes a space; NUL and everything else stays."""
    table = {}
    for c in range(1, 128):
        ch = chr(c)
        if ch.isspace() or (keep_word and not (ch.isalnum() or ch == "_")):
            table[c] = " "
    return table


_DROP = str.maketrans(_ascii_table(keep_word=True))
_WHITE = str.maketrans(_ascii_table(keep_word=False))
_NONASCII_NON_WORD = re.compile(r"[^\x00-\x7f\w]+")
_NONASCII_SPACE = re.compile(r"[^\S\x00-\x7f]+")


def _clean_row(row: str, lowercase: bool, table: dict[int, str], pattern: re.Pattern) -> str:
    if lowercase:
        row = row.lower()
    row = row.translate(table)
    return row if row.isascii() else pattern.sub(" ", row)


def normalize_batch(texts: Iterable[str], lowercase: bool = True,
                    punctuation: str = "drop", collapse: bool = True) -> str:
    """Normalise ``texts`` and return them joined by ``SEP`` (see module doc).

    With ``collapse=False`` tokens may be separated by several spaces (and rows
    may start or end with spaces); token-based hashing does not care, and it
    saves a pass. Character shingles and the datasketch-compatible modes need
    ``collapse=True``.
    """
    if punctuation not in PUNCTUATION:
        raise ValueError(f"punctuation must be one of {PUNCTUATION}, got {punctuation!r}")
    rows = [t.replace(SEP, " ") if SEP in t else t for t in texts]
    if punctuation == "split":
        rows = [_PUNCT_CHAR.sub(r" \1 ", r) for r in rows]
    table, pattern = (_DROP, _NONASCII_NON_WORD) if punctuation == "drop" else (_WHITE, _NONASCII_SPACE)
    joined = SEP.join(rows)
    if joined.isascii():
        # str.lower/str.translate are fast (~1 ns a character) only on pure
        # ASCII; one non-ASCII character sends the whole string down a ~40x
        # slower path, and ``re`` costs ~50 ns a character. So a mixed batch
        # is done row by row and only its non-ASCII rows take the slow road.
        joined = (joined.lower() if lowercase else joined).translate(table)
    else:
        joined = SEP.join(_clean_row(r, lowercase, table, pattern) for r in rows)
    return _collapse(joined) if collapse else joined


def _collapse(joined: str) -> str:
    # After the translation every separator is a plain space, so split(" ")
    # with empties dropped is the token list; SEP stays glued inside tokens.
    joined = " ".join(joined.split())
    return joined.replace(" " + SEP, SEP).replace(SEP + " ", SEP)


def normalize(text: str, lowercase: bool = True, punctuation: str = "drop") -> str:
    """One row; equal to ``normalize_batch([text])``. Handy in tests and reports."""
    return normalize_batch([text], lowercase, punctuation)


# One definition: decorator lines, a ``def``/``class`` line at column 0, then only indented
# or blank lines. Such a row takes the code view without being parsed.
_DEFINITION = re.compile(r"(?:@[^\n]*\n)*(?:async[ \t]+)?(?:def|class)[ \t]+\w+[^\n]*(?:\n(?:[ \t][^\n]*)?)*")


def code_rows(texts: Sequence[str], normalize: str = "text") -> list[bool]:
    """Which rows take the code view (see the module doc)."""
    if normalize not in NORMALIZE:
        raise ValueError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")
    if normalize != "auto":
        return [normalize == "code"] * len(texts)
    from synthkit.dedup.codenorm import parses_as_python

    return [_DEFINITION.fullmatch(t) is not None or parses_as_python(t) for t in texts]

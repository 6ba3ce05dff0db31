r"""Code normalisation that survives renaming, reformatting and comment edits.

``code_tokens(source)`` returns the token strings of Python source with:

- identifiers replaced by ``ID``, except keywords, builtins and attribute names after a dot;
- comments, docstrings and layout tokens (NL, INDENT, DEDENT, NEWLINE) dropped;
- parentheses dropped (those ``ast.unparse`` adds or removes do not matter);
- string literals by value (``literal_token``), numbers and operators as written.

It never raises: source ``tokenize`` rejects keeps the tokens before the error, and
the rest goes through a regex tokenizer with the same rules. ``text_tokens`` is the
plain-text view: lowercase ``\w+`` runs.

Cost: ~2 us a token (pure-Python ``tokenize``). Dedup uses ``codeview`` instead.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import logging
import re
import tokenize

log = logging.getLogger(__name__)

PLACEHOLDER = "ID"
_KEEP_NAMES = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
         tokenize.ENCODING, tokenize.ENDMARKER}
_FALLBACK = re.compile(
    r'(?P<doc>[rRbBuUfF]{0,2}(?:"""[\s\S]*?(?:"""|$)|\'\'\'[\s\S]*?(?:\'\'\'|$)))'
    r'|(?P<comment>#[^\n]*)'
    r'|(?P<str>[rRbBuUfF]{0,2}(?:"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'))'
    r'|(?P<name>[^\W\d]\w*)'
    r'|(?P<num>\d[\w.]*)'
    r'|(?P<op>\*\*=?|//=?|->|:=|[-+*/%@&|^<>=!]=|<<=?|>>=?|\S)')
_WORD = re.compile(r"\w+")
_FENCE = re.compile(r"^[ \t]*(?:`{3,}|~{3,})[^\n]*$", re.M)


def literal_token(tok: str) -> str:
    """A string literal's token by value: ``repr`` of what it evaluates to, so
    quote style, prefixes and escapes do not matter. f-strings (and anything
    that is not a plain literal) stay as written."""
    if tok[:1] in "'\"" and "\\" not in tok:  # no prefix, no escape: the value is between the quotes
        q = 3 if len(tok) >= 6 and tok[:3] in ('"""', "'''") else 1
        return repr(tok[q:-q])
    try:
        value = ast.literal_eval(tok)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return tok
    return repr(value) if isinstance(value, (str, bytes)) else tok


def parses_as_python(text: str) -> bool:
    """Whether ``text`` is valid Python source (what ``normalize: auto`` asks of a row)."""
    try:
        compile(text, "<row>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError):
        return False
    return True


def text_tokens(text: str) -> list[str]:
    """Lowercase word tokens: the view used for prose (and for code as text)."""
    return _WORD.findall(text.lower())


def _name(tok: str, after_dot: bool) -> str:
    return tok if after_dot or tok in _KEEP_NAMES else PLACEHOLDER


def code_tokens(source: str) -> list[str]:
    """Normalised tokens of Python ``source`` (see the module doc)."""
    if "```" in source or "~~~" in source:
        source = _unfence(source)
    out: list[str] = []
    lines = source.splitlines(keepends=True)
    reader = iter(lines).__next__
    prev_sig = tokenize.NEWLINE    # type of the last significant token (for docstrings)
    pending_string: str | None = None  # a string that may turn out to be a docstring
    end = (1, 0)
    try:
        for tok in tokenize.generate_tokens(reader):
            kind = tok.type
            if kind in _SKIP:
                if kind in (tokenize.NEWLINE, tokenize.ENDMARKER):
                    pending_string = None  # a string alone on its logical line: docstring, dropped
                    prev_sig = tokenize.NEWLINE
                elif kind in (tokenize.INDENT, tokenize.DEDENT):
                    prev_sig = tokenize.NEWLINE
                end = tok.end
                continue
            if pending_string is not None:
                out.append(pending_string)
                pending_string = None
            if kind == tokenize.STRING and prev_sig == tokenize.NEWLINE:
                pending_string = literal_token(tok.string)  # statement-start string: wait for what follows
            elif kind == tokenize.NAME:
                out.append(_name(tok.string, bool(out) and out[-1] == "."))
            elif kind == tokenize.STRING:
                out.append(literal_token(tok.string))
            elif tok.string not in _PARENS:
                out.append(tok.string)
            prev_sig = kind
            end = tok.end
    except (tokenize.TokenError, SyntaxError):  # IndentationError is a SyntaxError
        if pending_string is not None:
            out.append(pending_string)
        out.extend(_fallback(_rest(lines, end)))
    return out


def _rest(lines: list[str], end: tuple[int, int]) -> str:
    """Source after position ``end`` (1-based line, 0-based column)."""
    row, col = end
    if row < 1:
        return "".join(lines)
    return "".join(lines[row - 1:])[col:] if row - 1 < len(lines) else ""


def _fallback(source: str) -> list[str]:
    out: list[str] = []
    for m in _FALLBACK.finditer(source):
        kind = m.lastgroup
        if kind in ("doc", "comment"):
            continue
        tok = m.group()
        if kind == "name":
            out.append(_name(tok, bool(out) and out[-1] == "."))
        elif kind == "str":
            out.append(literal_token(tok))
        elif tok not in _PARENS:
            out.append(tok)
    return out


_PARENS = frozenset("()")


def _unfence(text: str) -> str:
    """The contents of markdown code fences, joined (prose outside is dropped)."""
    parts = _FENCE.split(text)
    blocks = parts[1::2]  # odd pieces lie between an opening and a closing fence
    return "\n".join(blocks) if blocks else text

"""Code normalisation: invariant to renaming, comments, docstrings and layout; never raises."""

from __future__ import annotations

import ast

from helpers.corpus import add_comments, reformat, rename_identifiers

from synthkit.dedup.codenorm import PLACEHOLDER, code_tokens, literal_token, parses_as_python, text_tokens

SRC = '''import math


def hypot2(a, b):
    """Length of the hypotenuse.

    >>> hypot2(3, 4)
    5.0
    """
    # square both sides
    total = a * a + b * b   # no overflow here
    items = [total]
    items.append(math.sqrt(total))
    return items[-1]
'''


def test_renaming_comments_and_layout_do_not_change_tokens():
    want = code_tokens(SRC)
    assert "hypot2" not in want and PLACEHOLDER in want
    assert {"import", "def", "return", "append", "sqrt"} <= set(want)   # keywords, attributes kept
    assert not any("hypotenuse" in t or t.startswith("#") for t in want)  # docstring, comments gone
    renamed = rename_identifiers(SRC, seed=3)
    assert "hypot2" not in renamed.split("(")[0] and renamed != SRC
    assert code_tokens(renamed) == want
    assert code_tokens(add_comments(SRC, seed=1)) == want
    assert code_tokens(SRC.replace("    ", "\t").replace("a * a", "a*a")) == want
    assert code_tokens(reformat(SRC)) == want     # ast.unparse: new spacing, blank lines, no comments


def test_strings_that_are_not_docstrings_stay_by_value():
    toks = code_tokens('x = "keep me"\n"drop me"\nprint("also kept")\n')
    assert "'keep me'" in toks and "'also kept'" in toks and "'drop me'" not in toks


def test_quotes_and_parentheses_from_reformatting_do_not_matter():
    src = 'def f(n):\n    a, b = 0, 1\n    s = "x" + r"y\\z" + """w"""\n    return (a + b) * len(s)\n'
    assert "(" not in code_tokens(src) and ")" not in code_tokens(src)
    unparsed = ast.unparse(ast.parse(src))   # a, b = (0, 1); single quotes; no needless parentheses
    assert unparsed != src and code_tokens(unparsed) == code_tokens(src)
    assert code_tokens(rename_identifiers(reformat(src), seed=2)) == code_tokens(src)
    assert literal_token("'a\\'b'") == literal_token('"a\'b"') == repr("a'b")
    assert literal_token('f"{x}"') == 'f"{x}"'  # not a plain literal: as written


def test_parses_as_python():
    assert parses_as_python(SRC) and not parses_as_python("it's prose") and not parses_as_python("x\x00")


def test_broken_code_falls_back_without_raising():
    truncated = SRC[: SRC.index("items.append")] + "items.append(math.sqrt(tot"
    toks = code_tokens(truncated)
    assert toks[:8] == code_tokens(SRC)[:8] and toks[-3:] == [".", "sqrt", PLACEHOLDER]
    assert code_tokens("    def f(x):\n  return x\n  '''doc") == ["def", "ID", "ID", ":", "return", "ID"]
    assert code_tokens("it's prose, with 'quotes") != []
    assert code_tokens("") == []


def test_markdown_fences_are_unwrapped():
    md = "Here you go:\n```python\n" + SRC + "```\nHope it helps, it's simple."
    assert code_tokens(md) == code_tokens(SRC)


def test_text_tokens():
    assert text_tokens("Hello, World_2!") == ["hello", "world_2"]

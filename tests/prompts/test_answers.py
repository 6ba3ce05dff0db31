"""extract_code: fenced blocks, entry points, helpers, no-fence answers (pure text work)."""

from __future__ import annotations

from synthkit.prompts.answers import extract_code, fenced_blocks

F = "```"


def test_entry_point_block_wins_and_usage_blocks_are_dropped():
    text = f"Here:\n{F}python\ndef f(x):\n    return x\n{F}\nUsage:\n{F}python\nprint(f(3))\n{F}\n"
    assert extract_code(text, "f") == "def f(x):\n    return x\n"
    helpers = f"{F}python\nimport math\n{F}\n{F}py\ndef f(x):\n    return math.sqrt(x)\n{F}\n{F}\nprint(f(4))\n{F}"
    assert extract_code(helpers, "f") == "import math\n\ndef f(x):\n    return math.sqrt(x)\n"


def test_without_entry_point_definitions_are_joined_else_the_longest_block():
    two_defs = f"{F}python\ndef g():\n    return 1\n{F}\n{F}python\ndef h():\n    return g()\n{F}"
    assert extract_code(two_defs) == "def g():\n    return 1\n\ndef h():\n    return g()\n"
    program = f"{F}\nn = int(input())\nprint(n * 2)\n{F}\nInput:\n{F}\n3\n{F}\nOutput:\n{F}\n6\n{F}"
    assert extract_code(program) == "n = int(input())\nprint(n * 2)\n"


def test_other_languages_indented_and_unterminated_fences():
    assert extract_code(f"{F}bash\npip install x\n{F}") is None
    assert extract_code(f"  {F}python\n  def g():\n      pass\n  {F}") == "def g():\n    pass\n"
    assert extract_code(f"{F}python\ndef g():\n    return 1") == "def g():\n    return 1\n"
    assert extract_code("~~~python\nx = 1\n~~~") == "x = 1\n"
    assert fenced_blocks("no fences here") is None


def test_broken_code_is_still_code_and_prose_is_not():
    assert extract_code(f"{F}python\ndef f(:\n{F}") == "def f(:\n"
    assert extract_code("x = 1\nprint(x)") == "x = 1\nprint(x)\n"
    for prose in ("Hello", "The answer is 42.", "", "   ", None, f"{F}python\n{F}"):
        assert extract_code(prose) is None  # type: ignore[arg-type]

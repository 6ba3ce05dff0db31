"""Answers a dummy synthesizer gives in the SCoder pipeline tests (tests/test_scoder_pipeline.py,
tests/executors/test_ray.py): two good exercises, one whose own test fails, one without tests, and
HumanEval/0 verbatim, which passes its tests and which decontaminate must catch. In this order:
``ANSWERS``."""

from __future__ import annotations


def exercise(name: str, body: str, tests: list[str]) -> str:
    asserts = "\n".join(tests)
    return (f"[Problem]\nWrite `{name}(x)`: {body}.\n\n[Entry Point]\n{name}\n\n"
            f"[Solution]\n```python\ndef {name}(x):\n    return {body}\n```\n\n[Tests]\n```python\n{asserts}\n```")


DOUBLE = exercise("double", "2 * x", ["assert double(2) == 4", "assert double(0) == 0"])
SQUARE = exercise("square", "x * x", ["assert square(3) == 9", "assert square(-2) == 4"])
WRONG = exercise("half", "x // 3", ["assert half(4) == 2"])          # its own test fails
NO_TESTS = DOUBLE[: DOUBLE.index("[Tests]")]
LEAKED = """[Problem]
Check if in given list of numbers, are any two numbers closer to each other than given threshold.

[Entry Point]
has_close_elements

[Solution]
```python
def has_close_elements(numbers, threshold):
    for idx, elem in enumerate(numbers):
        for idx2, elem2 in enumerate(numbers):
            if idx != idx2:
                distance = abs(elem - elem2)
                if distance < threshold:
                    return True
    return False
```

[Tests]
```python
assert has_close_elements([1.0, 2.0, 3.0], 0.5) is False
assert has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) is True
```"""  # HumanEval/0, verbatim: passes its tests, and decontaminate must catch it

ANSWERS = [DOUBLE, SQUARE, WRONG, NO_TESTS, LEAKED]

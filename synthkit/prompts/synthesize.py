"""Prompt for `synthesize`: seed snippet -> problem, reference solution, tests.

OSS-Instruct style (Magicoder): the seed is inspiration, not the answer. The
answer format is the one ``synthkit.core.answer_parse.parse_synthesis`` reads;
change both together. A one-shot example is included because small
synthesizers (135M-1.5B) follow a shown format far more often than a described
one. ``{seed}`` is the only placeholder (substituted with str.replace, so other braces are literal).
"""

from __future__ import annotations

# One worked answer, shared by both prompt styles (for a different snippet than the seed).
EXAMPLE = """\
[Problem]
Write a function `count_vowels(text)` that returns how many vowels (a, e, i, o, u, upper or lower case) \
the string `text` contains.

[Entry Point]
count_vowels

[Solution]
```python
def count_vowels(text):
    return sum(1 for ch in text.lower() if ch in "aeiou")
```

[Tests]
```python
assert count_vowels("") == 0
assert count_vowels("Hello") == 2
assert count_vowels("AEIOU xyz") == 5
```
"""

TEMPLATE = """\
You write Python programming exercises. Use the code snippet below as inspiration for a NEW, \
self-contained exercise. Do not copy the snippet. The exercise must need only standard Python \
(no files, network, or third-party packages).

Answer in exactly this format, with the four sections in this order:

[Problem]
<what the function must do, its inputs and its output>

[Entry Point]
<the function name>

[Solution]
```python
<a correct reference implementation>
```

[Tests]
```python
<3 to 6 assert statements that call the function>
```

Example answer (for a different snippet):

""" + EXAMPLE + """
Code snippet:
```python
{seed}
```

Now write the new exercise in the same format."""


# Completion style, for small or base models that do not follow instructions:
# a few-shot document whose last exercise is left open after its first header.
# The model continues the pattern; the caller prepends PREFIX to the answer and
# stops at the next "Code snippet:".
PREFIX = "[Problem]\n"
STOP = ("\nCode snippet:",)

FEW_SHOT = """\
Python exercises. Each one is a new, self-contained exercise inspired by a code snippet, \
with a reference solution and tests.

Code snippet:
```python
def _strip_accents(word):
    return "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))
```

""" + EXAMPLE + """
Code snippet:
```python
def merge(self, other):
    for key, value in other.items():
        self[key] = self.get(key, 0) + value
```

[Problem]
Write a function `merge_counts(a, b)` that takes two dicts mapping words to counts and returns a new \
dict with the summed counts of both.

[Entry Point]
merge_counts

[Solution]
```python
def merge_counts(a, b):
    result = dict(a)
    for key, value in b.items():
        result[key] = result.get(key, 0) + value
    return result
```

[Tests]
```python
assert merge_counts({}, {}) == {}
assert merge_counts({"a": 1}, {"a": 2, "b": 1}) == {"a": 3, "b": 1}
```

Code snippet:
```python
{seed}
```

""" + PREFIX


def render(seed: str, template: str = TEMPLATE, max_seed_chars: int = 4000) -> str:
    """The user message for one seed; over-long seeds are cut at a line end."""
    if len(seed) > max_seed_chars:
        seed = seed[:max_seed_chars].rsplit("\n", 1)[0]
    return template.replace("{seed}", seed)

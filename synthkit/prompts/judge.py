"""Prompts for `judge`: score a synthesized exercise on named aspects, 0-9.

``RUBRICS`` holds the built-in aspects: SCoder's five (consistency, relevance,
difficulty, clarity, test quality) and ``correctness``. One digit (0-9) is one token
for common tokenizers, which the G-Eval ``expected`` mode needs. Placeholders are
substituted with str.replace (model text may hold braces).

``parse_score`` reads ``Score: N`` (or a bare number); ``parse_joint_scores`` a JSON
``{aspect: number}``; ``expected_score`` the G-Eval expectation over the digit tokens'
``top_logprobs``. Failure reasons: no_score, out_of_range, no_json, missing_aspect,
bad_type, no_logprobs, no_score_token.
"""

from __future__ import annotations

import json
import math
import re

from synthkit.core.record import row_tests
from synthkit.prompts.answers import MAX_CHARS, ParseError

RUBRICS: dict[str, str] = {
    "consistency": "Does the reference solution solve exactly the problem as stated (same inputs, "
                   "outputs and edge cases), and do the tests agree with both?",
    "relevance": "Is the problem meaningfully inspired by the seed snippet (same domain, technique "
                 "or idea) while being a new, self-contained task?",
    "difficulty": "Is the problem non-trivial, requiring some reasoning or an algorithm, rather than "
                  "a one-line lookup? (0 = trivial, 9 = challenging yet solvable)",
    "clarity": "Is the problem statement clear, unambiguous and complete, naming the function and "
               "describing inputs, outputs and edge cases?",
    "test_quality": "Are the tests correct for the problem, do they call the function, and do they "
                    "cover normal and edge cases?",
    "correctness": "Is the reference solution correct for every valid input of the problem?",
}

DEFAULT_WEIGHTS: dict[str, float] = {"consistency": 0.3, "relevance": 0.15, "difficulty": 0.15,
                                     "clarity": 0.2, "test_quality": 0.2}

_EXERCISE = """\
[Seed snippet]
```python
{seed}
```

[Problem]
{instruction}

[Solution]
```python
{code}
```

[Tests]
```python
{tests}
```"""

PER_ASPECT = """\
You are a strict reviewer of Python programming exercises. Rate ONE aspect of the exercise below.

{exercise}

Aspect: {aspect}. {rubric}
Rate it from 0 (very poor) to 9 (excellent). Reply with exactly one line: Score: <digit>"""

JOINT = """\
You are a strict reviewer of Python programming exercises. Rate the exercise below on each aspect.

{exercise}

Aspects:
{aspect_list}
Rate each aspect from 0 (very poor) to 9 (excellent). Reply with only a JSON object, for example:
{example}"""


# Completion style, for small models that ignore chat instructions: plain text
# whose last line opens the answer; the judge prepends PREFIX[...] to the
# continuation before parsing. The 135M embedded model answers one digit here
# (it answered "100" to a bare "Score:").
PER_ASPECT_COMPLETION = """\
Rate the {aspect} of this Python exercise. {rubric}

{exercise}

Rate the {aspect} with one digit from 0 (very poor) to 9 (excellent).
{aspect} score (0-9):"""

JOINT_COMPLETION = JOINT + "\nJSON: {"
PREFIX = {"per_aspect": "Score:", "joint": "{"}


def _fill(template: str, **values: str) -> str:
    for k, v in values.items():
        template = template.replace("{" + k + "}", v)
    return template


def exercise(row: dict, max_chars: int = 6000) -> str:
    """The exercise block shown to the judge; each field cut to ``max_chars``."""
    def cut(v: object) -> str:
        s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) if v is not None else ""
        return s[:max_chars]
    return _fill(_EXERCISE, seed=cut(row.get("seed")), instruction=cut(row.get("instruction")),
                 code=cut(row.get("code") or row.get("response")), tests=cut(row_tests(row)))


def per_aspect(row: dict, aspect: str, rubric: str, completion: bool = False) -> str:
    template = PER_ASPECT_COMPLETION if completion else PER_ASPECT
    return _fill(template, exercise=exercise(row), aspect=aspect, rubric=rubric)


def joint(row: dict, rubrics: dict[str, str], completion: bool = False) -> str:
    aspect_list = "".join(f"- {a}: {r}\n" for a, r in rubrics.items())
    example = json.dumps({a: 5 for a in rubrics})
    return _fill(JOINT_COMPLETION if completion else JOINT, exercise=exercise(row),
                 aspect_list=aspect_list, example=example)


# --- reading the answers ----------------------------------------------------------

_SCORE = re.compile(r"\bscore\b[^\S\n]*(?:is|of|=|:)?[^\S\n]*\**[^\S\n]*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_BARE = re.compile(r"^\W*(-?\d+(?:\.\d+)?)\s*(?:/\s*\d+)?\W*$")
_TOKEN_JUNK = "Ġ▁ \t\n"  # BPE / sentencepiece space markers a backend may leave in token text


def _in_range(value: float, lo: int, hi: int, what: str) -> float | ParseError:
    if not math.isfinite(value) or not lo <= value <= hi:
        return ParseError("out_of_range", f"{what} = {value} is outside [{lo}, {hi}]")
    return float(value)


def parse_score(text: object, lo: int = 0, hi: int = 9) -> float | ParseError:
    """``Score: N`` anywhere (first one wins), else an answer that is just a number."""
    if not isinstance(text, str) or not text.strip():
        return ParseError("no_score", "empty answer")
    m = _SCORE.search(text) or _BARE.match(text.strip())
    if not m:
        return ParseError("no_score", f"no 'Score: N' in {text[:80]!r}")
    return _in_range(float(m.group(1)), lo, hi, "score")


def _first_json_object(text: str) -> dict | None:
    dec = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = dec.raw_decode(text, m.start())
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(obj, dict):
            return obj
    return None


def parse_joint_scores(text: object, aspects: list[str], lo: int = 0, hi: int = 9) -> dict[str, float] | ParseError:
    """The first JSON object in ``text`` as {aspect: score}; every aspect must be a
    number (not a bool or string) in [lo, hi]. Extra keys are ignored."""
    if not isinstance(text, str) or len(text) > MAX_CHARS:
        return ParseError("no_json", "empty or oversized answer")
    obj = _first_json_object(text)
    if obj is None:
        return ParseError("no_json", f"no JSON object in {text[:80]!r}")
    lowered = {str(k).strip().lower(): v for k, v in obj.items()}
    scores: dict[str, float] = {}
    for a in aspects:
        if a.lower() not in lowered:
            return ParseError("missing_aspect", f"no '{a}' in the JSON answer")
        v = lowered[a.lower()]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return ParseError("bad_type", f"'{a}' is {type(v).__name__}, expected a number")
        r = _in_range(v, lo, hi, a)
        if isinstance(r, ParseError):
            return r
        scores[a] = r
    return scores


def _digit_mass(alternatives: dict[str, float], lo: int, hi: int) -> dict[int, float]:
    """Probability per digit among one position's alternatives (same digit via
    several token spellings is summed)."""
    mass: dict[int, float] = {}
    for tok, lp in alternatives.items():
        t = tok.strip(_TOKEN_JUNK)
        if len(t) == 1 and t.isdigit() and lo <= int(t) <= hi and math.isfinite(lp):
            mass[int(t)] = mass.get(int(t), 0.0) + math.exp(lp)
    return mass


def score_positions(top_logprobs: list[dict[str, float]] | None, lo: int = 0, hi: int = 9) -> list[dict[int, float]]:
    """Digit distributions at every generated position whose most likely token is a digit."""
    out = []
    for alts in top_logprobs or []:
        if not alts:
            continue
        best = max(alts, key=alts.get)
        if best.strip(_TOKEN_JUNK).isdigit() and len(best.strip(_TOKEN_JUNK)) == 1:
            mass = _digit_mass(alts, lo, hi)
            if mass:
                out.append(mass)
    return out


def expected_score(top_logprobs: list[dict[str, float]] | None, index: int = 0,
                   lo: int = 0, hi: int = 9) -> float | ParseError:
    """G-Eval score: sum_d d * p(d) / sum_d p(d) over the digit tokens at the
    ``index``-th score position (0: the first digit the model wrote)."""
    if top_logprobs is None:
        return ParseError("no_logprobs", "the backend returned no top_logprobs")
    positions = score_positions(top_logprobs, lo, hi)
    if len(positions) <= index:
        return ParseError("no_score_token", f"{len(positions)} score digit(s) generated, needed {index + 1}")
    mass = positions[index]
    total = sum(mass.values())
    return sum(d * p for d, p in mass.items()) / total


def joint_expected_scores(text: str, top_logprobs: list[dict[str, float]] | None, aspects: list[str],
                          lo: int = 0, hi: int = 9) -> dict[str, float] | ParseError:
    """G-Eval scores for a joint JSON answer. The generated tokens are taken as
    each position's most likely alternative (so decode greedily); their text,
    whitespace removed, must spell the answer, which maps each aspect's value
    to the token that wrote it."""
    if top_logprobs is None:
        return ParseError("no_logprobs", "the backend returned no top_logprobs")
    chosen = [max(a, key=a.get) if a else "" for a in top_logprobs]
    squeeze = re.compile(r"[\sĠ▁]+")
    starts, pos = [], 0
    for tok in chosen:
        starts.append(pos)
        pos += len(squeeze.sub("", tok))
    flat = squeeze.sub("", text)
    if squeeze.sub("", "".join(chosen)) != flat:
        return ParseError("logprobs_misaligned", "the most likely tokens do not spell the answer "
                          "(sampled, not greedy); use temperature 0 with scoring: expected")
    scores: dict[str, float] = {}
    for a in aspects:
        m = re.search(r'"' + re.escape(a) + r'":(-?\d)', flat, re.IGNORECASE)
        if not m:
            return ParseError("missing_aspect", f"no numeric '{a}' in the JSON answer")
        i = max(j for j, st in enumerate(starts) if st <= m.start(1))
        mass = _digit_mass(top_logprobs[i], lo, hi)
        if not mass:
            return ParseError("no_score_token", f"no digit alternatives where '{a}' is scored")
        scores[a] = sum(d * p for d, p in mass.items()) / sum(mass.values())
    return scores

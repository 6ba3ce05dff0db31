"""Planted contamination hidden in real unrelated code: recall per disguise, false positives.

Clean corpus: the first 2,000 of ~3,700 standard-library functions (``stdlib_code``).
Benchmarks: HumanEval (164) + the project's held-out tasks. Each benchmark
program is planted, disguised four ways, between two clean functions. Prints
recall per disguise and the false-positive rate (visible with ``pytest -s``).
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from helpers.corpus import add_comments, reformat, rename_identifiers

from synthkit.dedup.benchmarks import load_benchmark
from synthkit.dedup.contamination import Decontaminator, DetectSettings

DISGUISES = {
    "verbatim": lambda code, seed: code,
    "renamed": rename_identifiers,
    "reformatted": lambda code, seed: reformat(code),
    "commented": add_comments,
    "renamed+unparsed": lambda code, seed: rename_identifiers(reformat(code), seed),
}
GOALS = {"verbatim": 1.0, "renamed": 1.0, "renamed+unparsed": 1.0}     # asserted; the others are reported
MAX_FALSE_POSITIVE_RATE = 0.01


@pytest.fixture(scope="module")
def items():
    return load_benchmark("humaneval") + load_benchmark("bundled:test")


@pytest.fixture(scope="module")
def detector(items):
    return Decontaminator(items)


def hits_item(matches, item) -> bool:
    return any(m.benchmark == item.benchmark and m.item_id == item.item_id for m in matches)


def test_planted_recall_and_false_positives(detector, items, stdlib_code):
    rng = random.Random(0)
    clean = stdlib_code[:2000]   # 0.05% resolution on the false-positive rate, ~3 s of tokenize
    flagged = [ms for lo in range(0, len(clean), 512) for ms in detector.check({"code": clean[lo:lo + 512]})]
    fp = [ms for ms in flagged if ms]
    fp_rate = len(fp) / len(clean)
    lines = [f"\n[decontaminate] clean stdlib functions: {len(clean)}, flagged {len(fp)} "
             f"(false-positive rate {fp_rate:.4f}); by detector {Counter(m[0].detector for m in fp)}"]
    recall = {}
    for name, disguise in DISGUISES.items():
        rows = [clean[rng.randrange(len(clean))] + "\n\n" + disguise(it.programs[0], k) + "\n\n"
                + clean[rng.randrange(len(clean))] for k, it in enumerate(items)]
        found = detector.check({"code": rows})
        hit = [hits_item(ms, it) for ms, it in zip(found, items)]
        recall[name] = sum(hit) / len(items)
        missed = [it.item_id for h, it in zip(hit, items) if not h]
        by = Counter(f"{m.detector}/{m.view}" for ms in found for m in ms)
        lines.append(f"[decontaminate] {name:12s} recall {recall[name]:.3f} ({len(items)} planted; "
                     f"missed {missed[:5]}); matches by detector {dict(by)}")
    print("\n".join(lines))
    for name, goal in GOALS.items():
        assert recall[name] >= goal, lines
    assert fp_rate <= MAX_FALSE_POSITIVE_RATE, lines


def test_text_views_catch_copied_problem_statements(detector, items):
    he = [it for it in items if it.benchmark == "humaneval"]
    prose = [f"Task: {he[k].prompt}\nPlease solve it." for k in range(0, 160, 16)]
    found = detector.check({"instruction": prose})
    assert all(hits_item(ms, he[k]) for ms, k in zip(found, range(0, 160, 16)))
    assert all(m.column == "instruction" for ms in found for m in ms)
    assert detector.check({"instruction": ["Write a function that reverses a linked list in place."]}) == [[]]


def test_each_detector_alone(items, stdlib_code):
    """Every detector finds verbatim copies on its own; the match says what it saw."""
    he = [it for it in items if it.benchmark == "humaneval"][:40]
    rows = [stdlib_code[k] + "\n" + it.programs[0] for k, it in enumerate(he)]
    for det in ("substring", "ngram"):
        d = Decontaminator(he, DetectSettings(detectors=[det]))
        found = d.check({"code": rows})
        assert all(hits_item(ms, it) for ms, it in zip(found, he)), det
        assert all(m.detector == det and m.span for ms in found for m in ms)
    d = Decontaminator(he, DetectSettings(detectors=["minhash"]))
    found = d.check({"code": [it.programs[0] for it in he]})    # MinHash compares whole texts
    recall = sum(hits_item(ms, it) for ms, it in zip(found, he)) / len(he)
    assert recall >= 0.9 and all(m.similarity >= 0.7 for ms in found for m in ms)


def test_unknown_detector_is_refused():
    with pytest.raises(ValueError, match="unknown detectors \\['exact'\\]; available: substring, ngram, minhash"):
        DetectSettings(detectors=["ngram", "exact"])


def test_renamed_and_unparsed_solutions_without_docstrings(detector, items, stdlib_code):
    """The code view alone: prompt docstrings stripped, then ast.unparse (new quotes,
    parentheses) and every name renamed. Every copy of at least ``ngram_code``
    normalised tokens is found; shorter ones (``return x + 1``) are ordinary code."""
    import ast

    from synthkit.dedup.codenorm import code_tokens

    def strip_docstrings(code: str) -> str:
        tree = ast.parse(code)
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
        return ast.unparse(tree)

    rng = random.Random(1)
    copies = [rename_identifiers(strip_docstrings(it.programs[0]), k) for k, it in enumerate(items)]
    rows = [stdlib_code[rng.randrange(2000)] + "\n\n" + c + "\n\n" + stdlib_code[rng.randrange(2000)] for c in copies]
    found = detector.check({"code": rows})
    long_enough = [len(code_tokens(c)) >= DetectSettings().ngram_code for c in copies]
    hits = [hits_item(ms, it) for ms, it in zip(found, items)]
    print(f"\n[decontaminate] renamed+unparsed, no docstring: recall {sum(hits) / len(items):.3f}; "
          f"{sum(long_enough)} copies of >= 24 tokens, all found: {all(h for h, ok in zip(hits, long_enough) if ok)}")
    assert all(h for h, ok in zip(hits, long_enough) if ok) and sum(long_enough) > 150

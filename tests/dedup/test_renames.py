"""Dedup of code that sees renamed names: attributes, names inside strings, and the false-removal guard."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from synthkit.dedup.minhash import MinHasher, ShingleSpec
from synthkit.dedup.near_dedup import DedupSettings, find_duplicates
from synthkit.dedup.renames import renamed_similarity

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
import renames as gen  # noqa: E402  (bench/renames.py: the rename generator and the yardsticks)

SRC = '''class Reader:
    def fill(self, size):
        """Fill self.buf with up to size bytes from the stream."""
        data = self.stream.read(size)
        if not data:
            raise EOFError(f"stream ended, buf holds {len(self.buf)} bytes")
        self.buf += data
        self.count += len(data)
        return len(self.buf)
'''
RENAMED = (SRC.replace("self.buf", "self.buffer").replace("buf holds", "buffer holds")
           .replace("self.buf with", "self.buffer with").replace("data", "chunk")
           .replace("def fill", "def refill").replace("    def", "    # read more\n    def", 1))


def views(*texts):
    mh = MinHasher(256, 1, "fast", ShingleSpec(normalize="code"))
    (_, sh, _), = mh.parts(list(texts))
    _, (abstract, literal), concrete = mh.hashed(sh, True)   # shingle hashes of both views, tokens
    shingle_ends, token_ends = np.cumsum(sh.counts)[:-1], np.cumsum(sh.tok_count)[:-1]
    return mh, [*(np.split(x, shingle_ends) for x in (abstract, literal)), np.split(concrete, token_ends)]


def test_attribute_and_message_renames_leave_the_abstract_view_unchanged():
    mh, (abstract, _, concrete) = views(SRC, RENAMED)
    assert np.array_equal(abstract[0], abstract[1])
    assert not np.array_equal(concrete[0], concrete[1])   # the concrete view sees the names
    sig = mh.signatures([SRC, RENAMED])
    assert (sig[0] == sig[1]).all()
    assert renamed_similarity(concrete[0], concrete[1]) == pytest.approx(1.0)


def test_a_rename_that_leaves_the_messages_alone_keeps_the_literal_view():
    partial = SRC.replace("self.buf += data", "self.buffer += data").replace("n len(self.buf)", "n len(self.buffer)")
    assert "buf holds" in partial and "self.buf with" in partial and "self.buffer +=" in partial
    _, (abstract, literal, concrete) = views(SRC, partial)
    assert np.array_equal(literal[0], literal[1])
    assert renamed_similarity(concrete[0], concrete[1]) == pytest.approx(1.0)


def test_a_different_string_or_constant_is_not_a_rename():
    other_message = SRC.replace("stream ended", "input closed")
    other_exception = SRC.replace("EOFError", "ValueError")
    _, (_, _, c) = views(SRC, other_message, other_exception)
    assert renamed_similarity(c[0], c[1]) < 0.9
    assert renamed_similarity(c[0], c[2]) < 0.9


def test_functions_one_rename_apart_that_share_nothing_else_stay(tmp_path):
    """Two getters of different fields: one consistent renaming maps one onto the other,
    but nothing they hold verbatim is shared, so they are not merged."""
    a = 'def seconds(self):\n    """seconds"""\n    return self._seconds\n'
    b = 'def days(self):\n    """days"""\n    return self._days\n'
    _, (abstract, _, c) = views(a, b)
    assert np.array_equal(abstract[0], abstract[1])   # LSH does propose them
    assert renamed_similarity(c[0], c[1]) == 0.0
    res = find_duplicates([{"code": a}, {"code": b}], DedupSettings(spec=ShingleSpec(normalize="auto")), tmp_path)
    assert res.stats["removed"] == 0 and res.stats["rejected_pairs"] == 1   # once, not once per band


def test_a_parameter_and_an_attribute_of_one_name_are_renamed_apart():
    """Renaming the parameter ``fileobj`` leaves ``self.fileobj`` alone: one renaming, found."""
    a = "def __init__(self, fileobj, mode):\n    self.fileobj = fileobj\n    self.mode = mode\n"
    b = a.replace("self, fileobj,", "self, f,").replace("= fileobj", "= f")
    assert "self.fileobj = f\n" in b and "(self, f, mode)" in b
    _, (_, _, c) = views(a, b)
    assert renamed_similarity(c[0], c[1]) == pytest.approx(1.0)
    from synthkit.dedup.codeview import NAME
    from synthkit.dedup.renames import infer_renaming

    (old, new), = infer_renaming(c[0].tolist(), c[1].tolist()).items()   # one renaming: the parameter's
    assert old & 3 == NAME and new & 3 == NAME


def test_generator_renames_attributes_and_strings():
    code = gen.functions(modules=("textwrap", "argparse"))
    changed = [gen.realistic_rename(c, seed=k) for k, c in enumerate(code)]
    assert all(x is None or x != c for x, c in zip(changed, code))
    attrs = sum(bool(set(a for a, is_attr in gen.candidates(c) if is_attr)) for c in code)
    assert attrs >= 10   # the sample exercises attribute renames


@pytest.mark.slow
def test_recall_and_false_removals_on_stdlib(tmp_path):
    """1,500 real functions plus 150 realistic renamed copies (``bench/renames.py``):
    at least 95% of the copies found, at most 1% of the clean rows falsely removed."""
    funcs = gen.functions(1500)
    rows, pairs = gen.plant(funcs, 150, seed=1)
    res = find_duplicates([{"code": c} for c in rows], DedupSettings(spec=ShingleSpec(normalize="auto")), tmp_path)
    q = gen.quality(rows, pairs, len(funcs), res.cluster, res.rep)
    print(f"\n[dedup] realistic renames: recall {q['recall']:.3f}, clean removed {q['clean_removed']:.4f}, "
          f"false removals {q['false_removals']:.4f}")
    assert q["recall"] >= 0.95 and q["false_removals"] <= 0.01
    text = find_duplicates([{"code": c} for c in rows], DedupSettings(), tmp_path / "text")
    assert gen.quality(rows, pairs, len(funcs), text.cluster, text.rep)["recall"] < 0.5  # words alone do not see it


def test_auto_takes_a_definition_as_code_without_parsing_it(tmp_path):
    """One def/class (decorators, then indented lines) takes the code view even with a typo, so
    a renamed copy that no longer parses still meets its original; prose and a module with
    top-level statements after a def are decided by the parser."""
    from synthkit.dedup.normalize import code_rows

    typo = RENAMED.replace("class Reader:", "class Reader(:")
    assert code_rows([typo, "@cache\ndef f(x):\n  return x\n", "It's a lovely day.", "def f(x):\n  return x\nf(1)\n",
                      "def f(:\nprint(1)\n"], "auto") == [True, True, False, True, False]
    res = find_duplicates([{"code": SRC}, {"code": typo}], DedupSettings(spec=ShingleSpec(normalize="auto")), tmp_path)
    assert res.stats["code_rows"] == 2 and res.rep[1] == 0


def test_string_spelling_does_not_matter():
    """What ast.unparse changes in strings: quotes, escapes, implicit concatenation."""
    from synthkit.dedup.codeview import code_batch

    pairs = [('x = ("hello, "\n     "world")\n', "x = 'hello, world'\n"),
             ("y = 'don\\'t'\n", 'y = "don\'t"\n'),
             ('z = "a\\nb"\n', 'z = """a\nb"""\n'),
             ('w = r"\\d+"\n', "w = '\\\\d+'\n")]
    for a, b in pairs:
        assert code_batch([a]) == code_batch([b]), (a, b)
    assert code_batch(['v = b"x"\n']) != code_batch(['v = "x"\n'])   # bytes are not str

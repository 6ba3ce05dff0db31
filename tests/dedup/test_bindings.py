"""Bound and free names in the code view, and the rule they feed: a renaming that changes a
free name, or an attribute of nothing the row owns, is a different program, not a copy."""

from __future__ import annotations

import numpy as np
import pytest

from synthkit.dedup.codeview import ATTR, FOREIGN, NAME, code_batch
from synthkit.dedup.minhash import MinHasher, ShingleSpec
from synthkit.dedup.near_dedup import DedupSettings, find_duplicates
from synthkit.dedup.renames import CODE_THRESHOLD, renamed_similarity


def concrete(*texts):
    mh = MinHasher(256, 1, "fast", ShingleSpec(normalize="code"))
    (_, sh, _), = mh.parts(list(texts))
    tokens = mh.hashed(sh, True)[2]
    return np.split(tokens, np.cumsum(sh.tok_count)[:-1])


def foreign(text):
    """``(free names, attributes of nothing owned)`` of one row, as text."""
    tok, = concrete(text)
    words = code_batch([text]).replace("\x03", "").split(" ")
    assert len(words) == tok.size
    flagged = [(w, int(t) & 3) for w, t in zip(words, tok.tolist()) if int(t) & FOREIGN]
    return {w for w, k in flagged if k == NAME}, {w for w, k in flagged if k == ATTR}


def test_every_binding_place_binds():
    code = '''def f(a, b: "Dict[str, int]" = None, *args, c=g(1, 2), **kw):
    x = y = 1
    p, (q, r) = a
    s += 1
    for i, j in enumerate(a):
        pass
    with open(a) as fh:
        pass
    try:
        pass
    except OSError as err:
        pass
    import os.path, json as js
    from math import tau
    global G
    if (w := len(a)) > 1:
        pass
    h = lambda m, n: m + n
    z = [k for k, _ in kw.items()]
    class Inner:
        pass
    def inner():
        pass
    return free_fn(x, y, p, q, r, s, i, j, fh, err, os, js, tau, G, w, h, z, Inner, inner, args, kw)
'''
    free, attrs = foreign(code)
    assert free == {"g", "enumerate", "open", "len", "free_fn", "json", "math"}   # imported as js; from math
    assert attrs == set()   # path (on os, imported) and items (on kw, a parameter) are owned


def test_attributes_owned_by_self_cls_or_a_bound_name_only():
    code = "def m(self, node):\n    self.buf.append(node.value)\n    return codecs.lookup(cls.name).encode(self.x.y)\n"
    free, attrs = foreign(code)
    assert free == {"codecs"}
    # buf (on self), value (on a parameter), name (on cls) are owned; append on self.buf,
    # lookup on a module, encode on a call's result and y on self.x are not
    assert attrs == {"append", "lookup", "encode", "y"}
    assert foreign("def f(self):\n    return self.x\n") == (set(), set())


def test_a_mark_character_in_the_source_is_not_read_as_a_binding():
    assert foreign("def f(a):\n    return b\x03c\n")[0] == {"b", "c"}


TWINS = [  # one consistent renaming apart, but of a free name or a foreign attribute: different programs
    ("def items(self):\n    return ItemsView(self)\n", "def keys(self):\n    return KeysView(self)\n"),
    ("def b64(input, errors='strict'):\n    assert errors == 'strict'\n    return (base64.encodebytes(input), len(input))\n",
     "def bz2e(input, errors='strict'):\n    assert errors == 'strict'\n    return (bz2.compress(input), len(input))\n"),
    ("def step(self):\n    self.idb.set_step()\n    self.abort_loop()\n",
     "def cont(self):\n    self.idb.set_continue()\n    self.abort_loop()\n"),
    ("def info(msg, *args):\n    if _logger:\n        _logger.log(INFO, msg, *args)\n",
     "def debug(msg, *args):\n    if _logger:\n        _logger.log(DEBUG, msg, *args)\n"),
]
COPIES = [  # renamings a person or a synthesizer makes: the row's own names and its attributes
    ("def area(rect, scale):\n    w = rect.width * scale\n    return w * rect.height * scale\n",
     "def area(r, scale):\n    width = r.width * scale\n    return width * r.height * scale\n"),
    ("def fill(self, size):\n    data = self.stream.read(size)\n    self.buf += data\n    return len(self.buf)\n",
     "def refill(self, size):\n    chunk = self.stream.read(size)\n    self.buffer += chunk\n    return len(self.buffer)\n"),
    ("def total(node):\n    acc = 0\n    for child in node.children:\n        acc += child.value\n    return acc\n",
     "def total(node):\n    acc = 0\n    for child in node.kids:\n        acc += child.value\n    return acc\n"),
    # an attribute of nothing the row owns (self.conn.timeout) renamed in a function that
    # shares more than FOREIGN_ATTR_SHARED names and words: a rename across a code base
    ("def connect(self, host, port):\n    sock = socket.create_connection((host, port), self.conn.timeout)\n"
     "    sock.settimeout(self.conn.timeout)\n    self.log.info('connected to %s:%d', host, port)\n    return sock\n",
     "def connect(self, host, port):\n    sock = socket.create_connection((host, port), self.conn.time_limit)\n"
     "    sock.settimeout(self.conn.time_limit)\n    self.log.info('connected to %s:%d', host, port)\n    return sock\n"),
]


@pytest.mark.parametrize("a, b", TWINS)
def test_twins_one_free_renaming_apart_are_not_copies(a, b, tmp_path):
    ca, cb = concrete(a, b)
    assert renamed_similarity(ca, cb) < CODE_THRESHOLD
    res = find_duplicates([{"code": a}, {"code": b}], DedupSettings(spec=ShingleSpec(normalize="auto")), tmp_path)
    assert res.stats["removed"] == 0


@pytest.mark.parametrize("a, b", COPIES)
def test_renamed_own_names_and_attributes_are_copies(a, b, tmp_path):
    ca, cb = concrete(a, b)
    assert renamed_similarity(ca, cb) == pytest.approx(1.0)
    res = find_duplicates([{"code": a}, {"code": b}], DedupSettings(spec=ShingleSpec(normalize="auto")), tmp_path)
    assert res.rep.tolist() == [0, 0]


def test_a_copy_meets_its_original_behind_the_original_s_twins(tmp_path):
    """Four rows with one abstract view (three twins, then a copy of the second): the LSH run's
    head and the rows next to the copy are twins that verification turns down, so only
    checking every pair of the run (``lsh.run_edges``) finds the copy's original."""
    twin = "def {0}(msg, *args):\n    if _logger:\n        _logger.log({1}, msg, *args)\n"
    rows = [twin.format("info", "INFO"), twin.format("debug", "DEBUG"), twin.format("warn", "WARNING"),
            twin.format("debug", "DEBUG").replace("msg", "message")]
    res = find_duplicates([{"code": r} for r in rows], DedupSettings(spec=ShingleSpec(normalize="auto")), tmp_path)
    assert res.rep.tolist() == [0, 1, 2, 1]

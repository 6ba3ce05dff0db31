r"""Benchmark contamination detectors: substring, n-gram overlap, MinHash similarity.

``Decontaminator(items, settings).check({column: texts})`` returns, for each row,
the list of ``Match``es (empty = clean). Every column is looked at in a **text**
view (lowercase ``\w+`` tokens) and a **code** view (``codenorm.code_tokens``).

Detectors (``settings.detectors``; all three by default):

- ``substring``: a prompt or solution (>= ``min_substring_chars``, whitespace
  collapsed, lowercased) occurs inside the row text.
- ``ngram``: a shared ``ngram_text``-word or ``ngram_code``-token n-gram; n-grams in
  ``max_item_share`` or more benchmark items are boilerplate and never count.
- ``minhash``: estimated Jaccard >= ``threshold`` (views under ``min_tokens`` skipped).

A ``Match`` names the item, detector, view, column and the matched span or similarity.
Settings and their measured defaults: docs/dedup.md, "Decontamination".
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np

from synthkit.dedup.benchmarks import BenchmarkItem
from synthkit.dedup.codenorm import code_tokens
from synthkit.dedup.lsh import band_keys, optimal_bands
from synthkit.dedup.minhash import MinHasher, ShingleSpec, estimate_jaccard
from synthkit.dedup.normalize import SEP, normalize_batch
from synthkit.dedup.shingles import PolyHasher, codepoints, shingle_batch

log = logging.getLogger(__name__)

_TOKEN_ESCAPE = str.maketrans({" ": "\x01", SEP: "\x01", "\n": "\x01", "\t": "\x01"})


DETECTORS = ("substring", "ngram", "minhash")


@dataclass
class DetectSettings:
    """What ``Decontaminator`` looks for; the decontaminate stage's config fields of
    the same names feed it (see the module doc for each)."""

    detectors: Sequence[str] = DETECTORS  # which of substring, ngram, minhash run
    min_substring_chars: int = 50
    ngram_text: int = 10          # words per n-gram, text view
    ngram_code: int = 24          # normalised code tokens per n-gram, code view
    max_item_share: int = 3
    threshold: float = 0.7        # MinHash: estimated Jaccard that counts as a match
    num_perm: int = 128           # MinHash permutations
    minhash_ngram: int = 5        # MinHash shingle size, tokens
    min_tokens: int = 20
    max_matches: int = 5          # per row, in the report

    def __post_init__(self) -> None:
        unknown = [d for d in self.detectors if d not in DETECTORS]
        if unknown:
            raise ValueError(f"unknown detectors {unknown}; available: {', '.join(DETECTORS)}")


@dataclass
class Match:
    benchmark: str
    item_id: str
    detector: str                 # "substring" | "ngram" | "minhash"
    view: str                     # "raw" | "text" | "code"
    column: str
    span: str | None = None
    similarity: float | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def text_view(texts: Sequence[str]) -> list[str]:
    """Lowercase word tokens joined by spaces (one string per text)."""
    return normalize_batch(texts, lowercase=True, punctuation="drop").split(SEP)


def code_view(texts: Sequence[str]) -> list[str]:
    """Normalised code tokens joined by spaces (spaces inside a token escaped)."""
    return [" ".join(t.translate(_TOKEN_ESCAPE) for t in code_tokens(s)) for s in texts]


def substring_view(texts: Sequence[str]) -> list[str]:
    return [" ".join(s.lower().split()) for s in texts]


class NgramIndex:
    """Sorted n-gram hashes of the benchmark documents of one view."""

    def __init__(self, docs: Sequence[str], doc_item: np.ndarray, n: int, max_item_share: int) -> None:
        self.n, self.poly = n, PolyHasher()
        hashes, rows, _ = self._ngrams(docs)
        pairs = np.unique(np.stack([hashes, doc_item[rows].astype(np.uint64)]), axis=1)
        h, first = np.unique(pairs[0], return_index=True)
        share = np.diff(np.append(first, pairs.shape[1]))
        keep = share < max_item_share
        self.hashes, self.items = h[keep], pairs[1][first][keep].astype(np.int64)
        log.debug("ngram index n=%d: %d n-grams, %d boilerplate dropped", n, keep.sum(), (~keep).sum())

    def _ngrams(self, docs: Sequence[str]):
        sh = shingle_batch(SEP.join(docs), len(docs), self.n, "word")
        full = (sh.hi - sh.lo) == self.n   # rows shorter than n give a whole-row shingle: not an n-gram
        rows = np.repeat(np.arange(len(docs)), sh.counts)
        return self.poly.hash_shingles(sh)[full], rows[full], (sh, np.flatnonzero(full))

    def query(self, views: Sequence[str]) -> list[tuple[int, int, str]]:
        """(row, item, n-gram text) of every hit; at most one hit per (row, item)."""
        if not self.hashes.size or not views:
            return []
        hashes, rows, (sh, where) = self._ngrams(views)
        hit = np.flatnonzero(np.isin(hashes, self.hashes))
        out, seen = [], set()
        for k in hit.tolist():
            item = int(self.items[np.searchsorted(self.hashes, hashes[k])])
            if (int(rows[k]), item) not in seen:
                seen.add((int(rows[k]), item))
                out.append((int(rows[k]), item, sh.shingle_text(int(where[k])).replace("\x01", " ")))
        return out


class SubstringIndex:
    """Benchmark strings of at least ``k`` characters, found by their first ``k``."""

    def __init__(self, targets: Sequence[str], target_item: Sequence[int], k: int) -> None:
        self.k, self.poly = k, PolyHasher()
        keep = [i for i, t in enumerate(targets) if len(t) >= k]
        self.targets = [targets[i] for i in keep]
        self.items = [int(target_item[i]) for i in keep]
        self.by_anchor: dict[int, list[int]] = {}
        for j, t in enumerate(self.targets):
            self.by_anchor.setdefault(self.poly.hash_text(t[:k]), []).append(j)
        self.anchors = np.array(sorted(self.by_anchor), dtype=np.uint64)

    def query(self, views: Sequence[str]) -> list[tuple[int, int, str]]:
        if not self.anchors.size or not views:
            return []
        cp = codepoints(SEP.join(views))
        starts = np.arange(max(cp.size - self.k + 1, 0), dtype=np.int64)
        seps = np.concatenate(([0], np.cumsum(cp == 0)))
        starts = starts[seps[starts + self.k] == seps[starts]]  # windows inside one row
        h = self.poly.hash_spans(cp, starts, starts + self.k)
        hit = np.isin(h, self.anchors)
        rows = seps[starts[hit]]
        out, seen = [], set()
        for row, key in zip(rows.tolist(), h[hit].tolist()):
            for j in self.by_anchor[key]:
                item = self.items[j]
                if (row, item) not in seen and self.targets[j] in views[row]:
                    seen.add((row, item))
                    out.append((row, item, self.targets[j]))
        return out


class MinhashIndex:
    """Signatures of the benchmark documents of one view, banded for lookup."""

    def __init__(self, docs: Sequence[str], doc_item: np.ndarray, threshold: float, num_perm: int,
                 ngram: int, min_tokens: int) -> None:
        spec = ShingleSpec(ngram, "word", lowercase=False, punctuation="keep")
        self.mh = MinHasher(num_perm, 1, "fast", spec)
        self.threshold, self.min_tokens = threshold, min_tokens
        self.b, self.r = optimal_bands(threshold, num_perm)
        ok = np.array([len(d.split()) >= min_tokens for d in docs], dtype=bool)
        self.sig = self.mh.signatures(docs)[ok] if len(docs) else np.zeros((0, num_perm), np.uint32)
        self.items = doc_item[ok]
        self.bands = []
        for j in range(self.b):
            keys = band_keys(self.sig[:, j * self.r:(j + 1) * self.r])
            order = np.argsort(keys)
            self.bands.append((keys[order], order))

    def query(self, views: Sequence[str]) -> list[tuple[int, int, float]]:
        if not self.items.size or not views:
            return []
        ok = np.array([len(v.split()) >= self.min_tokens for v in views], dtype=bool)
        rows = np.flatnonzero(ok)
        if not rows.size:
            return []
        sig = self.mh.signatures([views[i] for i in rows])
        pairs = set()
        for j, (keys, order) in enumerate(self.bands):
            q = band_keys(sig[:, j * self.r:(j + 1) * self.r])
            lo, hi = np.searchsorted(keys, q, "left"), np.searchsorted(keys, q, "right")
            for i in np.flatnonzero(hi > lo).tolist():
                pairs.update((i, int(d)) for d in order[lo[i]:hi[i]])
        out, best = [], {}
        for i, d in pairs:
            sim = float(estimate_jaccard(sig[i], self.sig[d]))
            key = (int(rows[i]), int(self.items[d]))
            if sim >= self.threshold and sim > best.get(key, -1.0):
                best[key] = sim
        out = [(row, item, sim) for (row, item), sim in best.items()]
        return sorted(out)


class Decontaminator:
    """All detectors over all benchmark items; ``check`` is the only entry point."""

    def __init__(self, items: Sequence[BenchmarkItem], settings: DetectSettings = DetectSettings()) -> None:
        self.items, self.s = list(items), settings
        texts, text_item, programs, program_item = [], [], [], []
        for k, it in enumerate(self.items):
            for s in [it.prompt, *it.solutions]:
                if s.strip():
                    texts.append(s)
                    text_item.append(k)
            for p in it.programs:
                programs.append(p)
                program_item.append(k)
        t_item, p_item = np.array(text_item, dtype=np.int64), np.array(program_item, dtype=np.int64)
        t_view, p_view = text_view(texts), code_view(programs)
        s, on = settings, set(settings.detectors)
        self.substring = SubstringIndex(substring_view(texts), text_item, s.min_substring_chars) \
            if "substring" in on else None
        ngram = "ngram" in on
        self.ngram_text = NgramIndex(t_view, t_item, s.ngram_text, s.max_item_share) if ngram else None
        self.ngram_code = NgramIndex(p_view, p_item, s.ngram_code, s.max_item_share) if ngram else None
        mh = dict(threshold=s.threshold, num_perm=s.num_perm, ngram=s.minhash_ngram, min_tokens=s.min_tokens)
        self.minhash_text = MinhashIndex(t_view, t_item, **mh) if "minhash" in on else None
        self.minhash_code = MinhashIndex(p_view, p_item, **mh) if "minhash" in on else None

    def check(self, columns: dict[str, Sequence[str]]) -> list[list[Match]]:
        """Matches per row; ``columns`` maps a column name to its texts (same length)."""
        n = len(next(iter(columns.values()))) if columns else 0
        found: list[list[Match]] = [[] for _ in range(n)]
        for col, texts in columns.items():
            texts = [t or "" for t in texts]
            if self.substring is not None:
                self._add(found, col, "substring", "raw", self.substring.query(substring_view(texts)))
            t_view = text_view(texts) if (self.ngram_text or self.minhash_text) else None
            c_view = code_view(texts) if (self.ngram_code or self.minhash_code) else None
            if self.ngram_text is not None:
                self._add(found, col, "ngram", "text", self.ngram_text.query(t_view))
                self._add(found, col, "ngram", "code", self.ngram_code.query(c_view))
            if self.minhash_text is not None:
                self._add(found, col, "minhash", "text", self.minhash_text.query(t_view))
                self._add(found, col, "minhash", "code", self.minhash_code.query(c_view))
        return found

    def _add(self, found: list[list[Match]], column: str, detector: str, view: str, hits) -> None:
        for row, item, what in hits:
            if len(found[row]) >= self.s.max_matches:
                continue
            it = self.items[item]
            m = Match(it.benchmark, it.item_id, detector, view, column)
            if isinstance(what, float):
                m.similarity = round(what, 4)
            else:
                m.span = what[:300]
            found[row].append(m)


_WORKER: Decontaminator | None = None


def _init_worker(detector: Decontaminator) -> None:
    global _WORKER
    _WORKER = detector


def _check_in_worker(batch: dict[str, Sequence[str]]) -> list[list[Match]]:
    return _WORKER.check(batch)


def check_all(detector: Decontaminator, batches: Iterable[dict[str, Sequence[str]]],
              workers: int = 1) -> Iterator[list[list[Match]]]:
    """``detector.check`` over ``batches``, in order; a process pool when ``workers > 1``
    (the detector is pickled once per worker; at most ``2 * workers`` batches in flight)."""
    if workers <= 1:
        for batch in batches:
            yield detector.check(batch)
        return
    ctx = mp.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(detector,)) as pool:
        pending: deque = deque()
        for batch in batches:
            pending.append(pool.submit(_check_in_worker, batch))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

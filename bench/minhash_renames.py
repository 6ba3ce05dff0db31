"""Section 4 of ``bench/minhash.py``: renamed copies of real code, text and auto against datasketch.

See ``bench/minhash.py``'s doc (section 4) for what is measured; ``bench/renames.py`` makes the
copies and the yardsticks.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from minhash import NUM_PERM, THRESHOLD, py_shingles, rate  # noqa: E402  (bench/minhash.py)


def datasketch_dedup(texts: list[str]) -> int:
    """datasketch's documented fast path, end to end: shingles, ``MinHash.bulk`` ->
    ``LeanMinHash``, ``MinHashLSH`` insert (``insertion_session``) then query; returns the
    rows removed (a row is removed when it collides with an earlier row)."""
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    sigs = [LeanMinHash(m) for m in MinHash.bulk([py_shingles(t) for t in texts], num_perm=NUM_PERM)]
    with lsh.insertion_session() as session:
        for i, m in enumerate(sigs):
            session.insert(i, m)
    return sum(any(j < i for j in lsh.query(m)) for i, m in enumerate(sigs))


def renames_section(n_funcs: int, n_copies: int, workdir: Path) -> None:
    """Section 4: realistic renames (bench/renames.py) among real functions, text and auto,
    rows per CPU-second end to end (find_duplicates on a list of rows), side by side with
    datasketch's fast path on the same rows."""
    import renames

    from synthkit.dedup.minhash import ShingleSpec
    from synthkit.dedup.near_dedup import DedupSettings, find_duplicates

    funcs = renames.functions(n_funcs, modules=None)
    n_copies = max(n_copies, n_funcs - len(funcs))  # the stdlib holds ~13k functions: copies make up the rows
    rows, pairs = renames.plant(funcs, n_copies, seed=0)
    data = [{"code": c} for c in rows]
    print(f"\n4. {n_copies} renamed copies (1-3 of function/parameter/local/self-attribute names, also in "
          f"f-strings, in other strings with p=0.7, plus a comment line; bench/renames.py) among {len(funcs)} "
          f"stdlib functions; threshold {THRESHOLD}; rows per CPU-second end to end, one process, best of 2")
    removed = {}
    ds_rate = rate(len(rows), lambda: removed.__setitem__("ds", datasketch_dedup(rows)), repeats=2)
    print(f"   datasketch (MinHash.bulk + LeanMinHash + MinHashLSH, text shingles): {ds_rate:7.0f} rows/s; "
          f"removed {removed['ds']}")
    for normalize in ("text", "auto"):
        res = {}
        settings = DedupSettings(spec=ShingleSpec(normalize=normalize), workers=1)
        r = rate(len(rows), lambda: res.__setitem__("r", find_duplicates(data, settings, workdir / f"r-{normalize}")),
                 repeats=2)
        q = renames.quality(rows, pairs, len(funcs), res["r"].cluster, res["r"].rep)
        st = res["r"].stats
        print(f"   normalize={normalize}: {r:7.0f} rows/s ({r / ds_rate:.1f}x datasketch); recall {q['recall']:.3f}; "
              f"clean rows removed {q['clean_removed']:.2%}, falsely {q['false_removals']:.2%} "
              f"(code shares < half its word 5-grams with the row kept; with any kept row: "
              f"{q['false_removals_any']:.2%}); candidate pairs {st['candidate_pairs']}, "
              f"rejected by verification {st['rejected_pairs']}")
    _stage_rates(rows, ds_rate, workdir)
    disguises_section(600, workdir)


def _stage_rates(rows: list[str], ds_rate: float, workdir: Path) -> None:
    """Signatures alone (``MinHasher.signatures``, best of 3), then the whole stage
    (``process_all`` on a ``datasets.Dataset``: Arrow reads, rejected rows built, kept rows
    selected), rows per CPU-second of this process, best of 2."""
    import datasets

    from synthkit.core.stage import StageContext
    from synthkit.dedup.minhash import MinHasher, ShingleSpec
    from synthkit.stages.dedup_minhash import DedupMinhash as S

    sig = {}
    for normalize in ("text", "auto"):
        mh = MinHasher(NUM_PERM, 1, "fast", ShingleSpec(normalize=normalize))
        mh.signatures(rows[:256])
        sig[normalize] = rate(len(rows), lambda: [mh.signatures(rows[i:i + 2048]) for i in range(0, len(rows), 2048)])
    print(f"   signatures only (MinHasher.signatures, one view), rows per CPU-second: text {sig['text']:.0f}, "
          f"auto {sig['auto']:.0f} (auto costs {sig['text'] / sig['auto']:.1f}x text)")
    ds = datasets.Dataset.from_dict({"id": [f"r{i}" for i in range(len(rows))], "code": rows})
    for normalize in ("text", "auto"):
        stage = S(S.Config(stage="dedup_minhash", workers=1, normalize=normalize),
                  StageContext(index=0, seed=0, stage_dir=workdir / f"stage-{normalize}", base_dir=workdir))
        r = rate(len(rows), lambda: stage.process_all(ds), repeats=2)
        print(f"   stage dedup_minhash (process_all on a Dataset), normalize={normalize}: {r:7.0f} rows/s "
              f"({r / ds_rate:.1f}x datasketch)")


def disguises_section(n_copies: int, workdir: Path) -> None:
    """Recall under other ways of renaming (``normalize: auto``), on the tests' stdlib corpus."""
    import random
    import re
    import zlib

    import renames

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/helpers/corpus.py
    from helpers.corpus import add_comments, reformat, rename_identifiers, stdlib_functions

    from synthkit.dedup.minhash import ShingleSpec
    from synthkit.dedup.near_dedup import DedupSettings, find_duplicates

    funcs = [f for f in stdlib_functions() if renames.realistic_rename(f, 0) is not None]

    def find_replace(code: str, seed: int) -> str | None:
        """One word of the names (``path`` in ``path``, ``self.path``, ``path_len``) replaced
        everywhere it stands alone, strings included: a find-and-replace rename."""
        rng = random.Random(seed)
        words = sorted({w for n, _ in renames.candidates(code) for w in n.split("_") if len(w) > 2})
        if not words:
            return None
        return re.sub(rf"(?<![A-Za-z0-9]){rng.choice(words)}(?![a-z0-9])", rng.choice(["elem", "val", "obj2"]), code)

    def then(first, second):
        return lambda f, s: (lambda c: second(c, s) if c else None)(first(f, s))

    kinds = {"every bound name renamed (tests/helpers/corpus.rename_identifiers)": rename_identifiers,
             "find-and-replace of one word of the names": find_replace,
             "bench/renames copy, attributes of anything (not only self's) among the names it may rename":
                 lambda f, s: renames.realistic_rename(f, s, renames.attribute_candidates),
             "bench/renames copy, free names (globals, modules, helpers it calls) among the names it may rename":
                 lambda f, s: renames.realistic_rename(f, s, renames.free_name_candidates),
             "bench/renames copy, then ast.unparse": then(renames.realistic_rename, lambda c, s: reformat(c)),
             "bench/renames copy, then a comment on every line": then(renames.realistic_rename, add_comments)}
    print(f"\n   other disguises, {n_copies} copies each among {len(funcs)} functions (tests' corpus), normalize=auto:")
    for name, make in kinds.items():
        rng = random.Random(zlib.crc32(name.encode()))  # each kind its own sample, whatever the others
        rows, pairs = list(funcs), []
        for k in rng.sample(range(len(funcs)), n_copies):
            try:
                copy = make(funcs[k], k)
            except (SyntaxError, ValueError):
                copy = None
            if copy and copy != funcs[k]:
                pairs.append((k, len(rows)))
                rows.append(copy)
        res = find_duplicates([{"code": c} for c in rows], DedupSettings(spec=ShingleSpec(normalize="auto"), workers=1),
                              workdir / f"disguise-{len(pairs)}-{rng.random()}")
        q = renames.quality(rows, pairs, len(funcs), res.cluster, res.rep)
        print(f"     {name}: recall {q['recall']:.3f}; false removals {q['false_removals']:.2%}")

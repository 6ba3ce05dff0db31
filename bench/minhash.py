"""Benchmark: MinHash signatures and near-dedup, against datasketch, side by side.

    python bench/minhash.py [--rows 100000] [--throughput-rows 20000] [--sample 2000]
    python bench/minhash.py --executor ray [--rows 100000] [--repeats 2]
    python bench/minhash.py --only-renames [--near-rows 20000] [--near-copies 1000]

Corpus: real Python functions from the standard library (``ast``-extracted),
grown to ``--rows`` rows: ~65% distinct (a function, or, once the
stdlib runs out, variants of it with every name suffixed), ~25% near duplicates
(1% of the space-separated pieces replaced) and ~10%
copies differing only in case and spacing, shuffled. Prints, in one run:

1. signature throughput (rows per CPU-second of one process, best of 3; 256
   permutations, 5-word shingles)
   of ``MinHasher`` (fast and compat modes) and its ratio against a per-row
   ``datasketch.MinHash().update()`` loop and against ``MinHash.bulk``
   (datasketch's default scheme and ``scheme="legacy"``). datasketch gets its
   shingles ready-made (their preparation is timed separately and NOT charged
   to it), while ours starts from raw text: the ratio flatters the baseline.
   Goal: >= 3x ``MinHash.bulk``.
2. end-to-end ``dedup_minhash`` (stage ``process_all`` on a memory-mapped
   ``datasets.Dataset``) on ``--rows`` rows: seconds and peak RSS, measured in
   a fresh child process (1 worker, then one per core).
3. recall and precision of the clusters against brute-force exact Jaccard
   (>= threshold) on a ``--sample``-row corpus built the same way.
4. renamed copies (``bench/renames.py``: one to three of the function's
   name, its parameters, locals and ``self`` attributes renamed everywhere,
   inside f-strings always and inside other strings with p = 0.7, plus a
   comment line) among the whole standard library's functions, grown with
   copies to ``--near-rows`` rows (at least ``--near-copies`` copies), end to
   end (``find_duplicates`` on the rows, one process, rows per CPU-second,
   best of 2) for ``normalize: text`` and ``auto``, side by side with
   datasketch's fast path on the same rows (shingles, ``MinHash.bulk`` ->
   ``LeanMinHash``, ``MinHashLSH`` insertion session, then a query per row):
   the ratio, the recall of the copies, the share of clean rows removed, and
   the false removals (a clean row removed whose code, docstrings and comments
   left out, shares less than half its word 5-grams with the row kept
   instead). Then signatures alone, the whole stage on a ``datasets.Dataset``,
   and the recall under other disguises (every name renamed, a find-and-replace
   of one word, attributes of anything or free names among those renamed,
   ``ast.unparse``, comments everywhere) on the tests' corpus.
   ``--only-renames`` runs this section alone (its code:
   ``bench/minhash_renames.py``).

Sections 2 and 3 run with ``normalize: text`` as well as the default
``auto``: the corpus's "distinct" variants differ only in their names, so as
code they are exact duplicates of their originals, and its upper-cased copies
do not parse, so ``auto`` compares them as text with originals compared as
code. Section 1 is ``text`` (datasketch is given the same word shingles).

With ``--executor ray`` it prints, instead, the dedup throughput of the same
corpus under both executors, at 1 and 2 workers, each in a fresh child process:
the local executor (``process_all``, ``workers: w``) next to the Ray executor
(``reduce_shards`` on the corpus cut into 10,000-row shard files, as a stage
reads its input, on a fresh local Ray instance with ``num_cpus=w``). Ray is
timed cold (the first dedup: worker processes start and import) and warm (the
same dedup again), and the instance's start is reported apart. Both sides
compute the decisions only (no output written); the Ray side checks that its
clusters equal the local ones.
"""

from __future__ import annotations

import argparse
import json
import keyword
import os
import random
import re
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

NUM_PERM, NGRAM, THRESHOLD = 256, 5, 0.7
QUALITY_SETTINGS = {
    "default": {},
    "verify": {"verify": True},
    "verify+recall": {"verify": True, "fp_weight": 0.1, "fn_weight": 0.9},   # bands favour recall
}


def stdlib_modules() -> list[str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "idle_test", "site-packages", "lib2to3", "__pycache__"}
    return [str(p.relative_to(root))[:-3] for p in sorted(root.rglob("*.py")) if not skip & set(p.parts)]


_NAME = re.compile(r"\b[A-Za-z_][A-Za-z_0-9]*\b")


def variant(code: str, k: int) -> str:
    """A distinct function: every name that is not a keyword gets the suffix ``_v<k>``
    (so nearly every 5-word shingle changes, as between unrelated functions)."""
    return _NAME.sub(lambda m: m.group() if keyword.iskeyword(m.group()) else f"{m.group()}_v{k}", code)


def build_corpus(n: int, seed: int, pool: list[str]) -> list[str]:
    rng = random.Random(seed)
    n_near, n_exact = n // 4, n // 10
    n_orig = n - n_near - n_exact
    originals = pool[:n_orig]
    while len(originals) < n_orig:            # out of stdlib: renamed variants of it
        originals.append(variant(pool[len(originals) % len(pool)], len(originals) // len(pool)))
    rows = list(originals)
    for _ in range(n_near):
        words = originals[rng.randrange(n_orig)].split(" ")
        for _ in range(max(1, len(words) // 100)):
            words[rng.randrange(len(words))] = rng.choice(["foo", "bar", "baz", "qux", "value", "item"])
        rows.append(" ".join(words))
    for _ in range(n_exact):
        rows.append("  " + originals[rng.randrange(n_orig)].upper().replace(" ", "  "))
    rng.shuffle(rows)
    return rows


def py_shingles(text: str) -> list[bytes]:
    """The baseline's shingles (same normalisation as ours: lowercase \\w+ words)."""
    words = re.findall(r"\w+", text.lower())
    if len(words) < NGRAM:
        return [" ".join(words).encode()] if words else []
    return [" ".join(words[i:i + NGRAM]).encode() for i in range(len(words) - NGRAM + 1)]


def rate(n: int, fn, repeats: int = 3) -> float:
    """Rows per CPU-second of this process, best of ``repeats``. CPU time, not wall
    time: on a shared machine the wall clock mostly measures the neighbours."""
    best = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return n / best


def throughput(texts: list[str], n_bulk: int, n_loop: int) -> dict[str, float]:
    from datasketch import MinHash

    from synthkit.dedup.minhash import MinHasher

    out = {}
    for mode in ("fast", "compat"):
        mh = MinHasher(NUM_PERM, 1, mode)
        mh.signatures(texts[:256])            # warm the span-hash tables
        out[f"ours_{mode}"] = rate(len(texts), lambda: [mh.signatures(texts[i:i + 2048])
                                                         for i in range(0, len(texts), 2048)])
    shingles: list[list[bytes]] = [py_shingles(t) for t in texts[:n_bulk]]
    out["baseline_prep"] = rate(n_bulk, lambda: [py_shingles(t) for t in texts[:n_bulk]])
    out["bulk_affine32"] = rate(n_bulk, lambda: MinHash.bulk(shingles, num_perm=NUM_PERM))
    out["bulk_legacy"] = rate(n_bulk, lambda: MinHash.bulk(shingles, num_perm=NUM_PERM, scheme="legacy"))

    def loop():
        for sh in shingles[:n_loop]:
            m = MinHash(num_perm=NUM_PERM)
            for s in sh:
                m.update(s)
    out["update_loop"] = rate(n_loop, loop, repeats=1)
    return out


def brute_force_pairs(texts: list[str]) -> set[tuple[int, int]]:
    """Exact Jaccard >= THRESHOLD over all pairs, via an inverted index of shingles."""
    sets = [set(py_shingles(t)) for t in texts]
    index: dict[bytes, list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for sh in s:
            index[sh].append(i)
    inter: Counter = Counter()
    for rows in index.values():
        for a in range(len(rows)):
            for b in range(a + 1, len(rows)):
                inter[(rows[a], rows[b])] += 1
    return {p for p, c in inter.items() if c / (len(sets[p[0]]) + len(sets[p[1]]) - c) >= THRESHOLD}


def cluster_pairs(cluster) -> set[tuple[int, int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for i, c in enumerate(cluster.tolist()):
        groups[c].append(i)
    return {(a, b) for g in groups.values() for k, a in enumerate(g) for b in g[k + 1:]}


def quality(texts: list[str], workdir: Path) -> dict[str, dict[str, float]]:
    from synthkit.dedup.near_dedup import DedupSettings, find_duplicates

    truth = brute_force_pairs(texts)
    rows = [{"code": t} for t in texts]
    out = {"truth_pairs": {"n": len(truth)}}
    for name, extra in QUALITY_SETTINGS.items():
        res = find_duplicates(rows, DedupSettings(threshold=THRESHOLD, num_perm=NUM_PERM, **extra),
                              workdir / f"q{len(out)}")
        found = cluster_pairs(res.cluster)
        hit = len(truth & found)
        out[name] = {"recall": hit / max(1, len(truth)), "precision": hit / max(1, len(found)),
                     "pairs": len(found), "bands": f"{res.bands}x{res.rows}"}
    return out


def child(path: str, workers: int, trace: bool, normalize: str = "auto") -> None:
    """Runs in a fresh process: peak RSS is the dedup's (plus imports and the mapped data).
    With ``trace``, tracemalloc measures the peak of Python + numpy heap allocations
    during the dedup alone (memory-mapped files and Arrow buffers are not counted)."""
    import tracemalloc

    import datasets

    from synthkit.core.stage import StageContext
    from synthkit.stages.dedup_minhash import DedupMinhash as S

    ds = datasets.Dataset.from_parquet(path, cache_dir=str(Path(path).parent / "cache"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu0 = time.process_time()
    with tempfile.TemporaryDirectory() as d:
        stage = S(S.Config(stage="dedup_minhash", workers=workers, normalize=normalize),
                  StageContext(index=0, seed=0, stage_dir=Path(d), base_dir=Path(d)))
        if trace:
            tracemalloc.start()
        t = time.perf_counter()
        kept, rejected = stage.process_all(ds)
        heap = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
        seconds = time.perf_counter() - t
        cpu = time.process_time() - cpu0
        stats = json.loads((Path(d) / "dedup.json").read_text())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "heap_peak_mb": heap, "rss_before_mb": before, "rss_peak_mb": peak, "kept": len(kept),
                      "rejected": len(rejected), "stats": stats}))


def ray_child(folder: str, workers: int, repeats: int) -> None:
    """In a fresh process: a Ray instance with ``workers`` CPUs, then the stage's ``reduce_shards`` on the shards."""
    import logging

    t = time.perf_counter()
    import ray

    ray.init(num_cpus=workers, include_dashboard=False, logging_level=logging.WARNING)
    ray.data.DataContext.get_current().enable_progress_bars = False
    start_s = time.perf_counter() - t

    from synthkit.core.shards import ShardedInput
    from synthkit.core.stage import StageContext
    from synthkit.stages.dedup_minhash import DedupMinhash as S

    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as d:
            stage = S(S.Config(stage="dedup_minhash"), StageContext(index=0, seed=0, stage_dir=Path(d), base_dir=Path(d)))
            source = ShardedInput.of(Path(folder), workers=workers)
            t = time.perf_counter()
            verdicts = stage.reduce_shards(source, [])
            runs.append({"seconds": time.perf_counter() - t, "rejected": len(verdicts.rejected),
                         "stats": json.loads((Path(d) / "dedup.json").read_text())})
    ray.shutdown()
    print(json.dumps({"start_s": start_s, "runs": runs, "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def executors(texts: list[str], workdir: Path, repeats: int) -> None:
    """Dedup throughput under the local and the Ray executor, at 1 and 2 workers."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from synthkit.core import rundir

    path = workdir / f"corpus{len(texts)}.parquet"
    ids = [f"r{i}" for i in range(len(texts))]
    pq.write_table(pa.table({"id": ids, "code": texts}), path)
    shards = workdir / "shards"
    for k, lo in enumerate(range(0, len(texts), 10_000)):
        rundir.write_rows(shards, rundir.job_key(0, k), [{"id": i, "code": t} for i, t in
                                                          zip(ids[lo:lo + 10_000], texts[lo:lo + 10_000])])
    n = len(texts)
    print(f"dedup_minhash on {n} rows ({sum(map(len, texts)) / n:.0f} chars/row), decisions only, "
          f"fresh process per line; cpu: {os.cpu_count()} cores")
    for w in (1, 2):
        e = end_to_end(texts, workdir, w)
        local_rate = n / e["seconds"]
        print(f"   local executor, workers={w}: {e['seconds']:.1f} s ({local_rate:.0f} rows/s); "
              f"removed {e['stats']['removed']}")
        cmd = [sys.executable, __file__, "--ray-child", str(shards), "--workers", str(w), "--repeats", str(repeats)]
        out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        for i, r in enumerate(out["runs"]):
            st = r["stats"]
            keys = ("removed", "exact_removed", "near_removed", "clusters")
            same = "as local" if all(st[k] == e["stats"][k] for k in keys) else "DIFFERENT from local"
            print(f"   ray executor,   workers={w} ({'cold' if i == 0 else 'warm'}): {r['seconds']:.1f} s "
                  f"({n / r['seconds']:.0f} rows/s, {r['seconds'] / e['seconds']:.2f}x the local time); "
                  f"sign {st['sign_s']} s, lsh {st['lsh_s']} s; removed {st['removed']} ({same})")
        print(f"   (ray instance start with {w} CPU(s): {out['start_s']:.1f} s, not counted above; "
              f"driver peak RSS {out['rss_peak_mb']:.0f} MB)")


def end_to_end(texts: list[str], workdir: Path, workers: int, trace: bool = False, normalize: str = "auto") -> dict:
    path = workdir / f"corpus{len(texts)}.parquet"
    if not path.exists():
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"id": [f"r{i}" for i in range(len(texts))], "code": texts}), path)
    cmd = [sys.executable, __file__, "--child", str(path), "--workers", str(workers), "--normalize", normalize] + (
        ["--trace"] if trace else [])
    out = subprocess.run(cmd,
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--throughput-rows", type=int, default=20_000)
    ap.add_argument("--bulk-rows", type=int, default=5_000)
    ap.add_argument("--loop-rows", type=int, default=1_000)
    ap.add_argument("--sample", type=int, default=2_000)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--normalize", default="auto", help=argparse.SUPPRESS)
    ap.add_argument("--near-rows", type=int, default=20_000, help="distinct functions around the near copies")
    ap.add_argument("--near-copies", type=int, default=1_000, help="planted near copies (rename + comment)")
    ap.add_argument("--only-renames", action="store_true", help="section 4 only")
    ap.add_argument("--executor", choices=["local", "ray"], default="local",
                    help="ray: only the end-to-end dedup, local executor next to the Ray executor, 1 and 2 workers")
    ap.add_argument("--repeats", type=int, default=2, help="--executor ray: dedups per Ray instance (cold, then warm)")
    ap.add_argument("--ray-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.workers, args.trace, args.normalize)
    if args.ray_child:
        return ray_child(args.ray_child, args.workers, args.repeats)

    from minhash_renames import renames_section  # bench/minhash_renames.py (section 4)

    if args.only_renames:
        with tempfile.TemporaryDirectory() as d:
            return renames_section(args.near_rows, args.near_copies, Path(d))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/helpers/corpus.py
    from helpers.corpus import stdlib_functions

    t = time.perf_counter()
    pool = stdlib_functions(args.rows, modules=stdlib_modules())
    corpus = build_corpus(args.rows, 0, pool)
    chars = sum(map(len, corpus)) / len(corpus)
    print(f"corpus: {len(corpus)} rows ({len(pool)} distinct stdlib functions, {chars:.0f} chars/row), "
          f"built in {time.perf_counter() - t:.1f} s; cpu: {os.cpu_count()} cores")
    if args.executor == "ray":
        with tempfile.TemporaryDirectory() as d:
            return executors(corpus, Path(d), args.repeats)

    r = throughput(corpus[:args.throughput_rows], args.bulk_rows, args.loop_rows)
    print(f"\n1. signatures, one core, {NUM_PERM} perms, {NGRAM}-word shingles (rows per CPU-second, best of 3)")
    for k, v in r.items():
        print(f"   {k:16s} {v:10.0f}")
    fast = r["ours_fast"]
    print(f"   ratio fast / MinHash.bulk (affine32): {fast / r['bulk_affine32']:.1f}x  (goal >= 3x)")
    print(f"   ratio fast / MinHash.bulk (legacy):   {fast / r['bulk_legacy']:.1f}x")
    print(f"   ratio fast / per-row update() loop:   {fast / r['update_loop']:.1f}x")
    print(f"   ratio compat / MinHash.bulk (legacy): {r['ours_compat'] / r['bulk_legacy']:.1f}x")
    both = 1 / (1 / r["bulk_affine32"] + 1 / r["baseline_prep"])
    print(f"   ratio fast / (shingle prep + bulk):   {fast / both:.1f}x  (both from raw text)")

    with tempfile.TemporaryDirectory() as d:
        print(f"\n2. end-to-end dedup_minhash on {len(corpus)} rows (fresh process, Dataset from parquet)")
        for normalize in ("text", "auto"):
            for w in sorted({1, os.cpu_count() or 1}):
                e = end_to_end(corpus, Path(d), w, normalize=normalize)
                s = e["stats"]
                print(f"   normalize={normalize} workers={w}: {e['seconds']:.1f} s wall "
                      f"({len(corpus) / e['seconds']:.0f} rows/s), {e['cpu_s']:.1f} s CPU in the main process, "
                      f"peak RSS {e['rss_peak_mb']:.0f} MB (before dedup {e['rss_before_mb']:.0f} MB); removed "
                      f"{s['removed']} (exact {s['exact_removed']}, near {s['near_removed']}; {s.get('code_rows', 0)} "
                      f"rows compared as code); passes: sign {s['sign_s']} s, exact {s.get('exact_s')} s, "
                      f"lsh {s['lsh_s']} s")
        print("   memory growth (tracemalloc peak of Python + numpy heap during process_all, 1 worker, text):")
        for n in (len(corpus) // 4, len(corpus)):
            e = end_to_end(corpus[:n], Path(d), 1, trace=True, normalize="text")
            print(f"     rows={n}: heap peak {e['heap_peak_mb']:.0f} MB, {e['stats']['removed']} rows rejected "
                  f"(the rejected rows are returned as a list)")
        sample = build_corpus(args.sample, 1, pool)
        q = quality(sample, Path(d))
        print(f"\n3. clusters vs brute-force exact Jaccard >= {THRESHOLD} on {len(sample)} rows "
              f"({q['truth_pairs']['n']} true pairs; word shingles, normalize: text)")
        for k, extra in QUALITY_SETTINGS.items():
            print(f"   {k:14s} recall {q[k]['recall']:.3f}  precision {q[k]['precision']:.3f}  "
                  f"({q[k]['pairs']} pairs in clusters; bands x rows {q[k]['bands']}; {extra or 'defaults'})")
        renames_section(args.near_rows, args.near_copies, Path(d))


if __name__ == "__main__":
    main()

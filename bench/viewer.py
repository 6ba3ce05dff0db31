"""Benchmark: `synthkit view` on 10k, 100k and 1M-row runs, against loading the run whole.

    python bench/viewer.py [--rows 10000 100000 1000000] [--workdir /tmp/synthkit-bench-viewer] [--keep]

For each size it writes a run folder the way the runner lays one out:
``00_synthesize`` (a row-local stage: 64-row jobs, as ``shard_size`` makes
them, each with its ``stats/<key>.json``; every 10th job also dropped 32 rows
with one of two reasons, packed as ``core.rejected`` writes them) and ``01_save`` (the final rows in
10,000-row chunks, as a whole-dataset stage writes them). Rows hold ~1.2 KB of
text (instruction, response, code, tests, seed), scores, verify and meta.

Then, for each size, in a fresh ``synthkit view`` process (the real CLI):

- time to first page: from starting the process to the funnel page (``/``)
  answered, and then the first page of final rows (``/rows``);
- the time of single requests on the warm server: the last page of the final
  rows, the last page of the 64-row-shard stage, a search, a filter by score,
  a sort by score (a full scan), a drop reason, a drop reason sorted by score
  (every rejected row of that reason unpacked from its JSON), and one row by id
  (``/row/ID``, the last row);
- the server's peak RSS (``VmHWM``) after all of them.

Baseline, side by side: a fresh process that loads the final rows whole
(``synthkit.core.rundir.load_table``, what a script reading the shards by hand
does) and slices the first page; its seconds and peak RSS, and the ratios.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from synthkit.core.record import Rejected
from synthkit.core.rejected import pack

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("list value return index count total number string items result check sort merge parse "
         "window buffer token graph node edge path cache query score filter group split join").split()


POOLS: dict[int, np.ndarray] = {}


def texts(rng: np.random.Generator, n: int, words: int, pool: int = 4096) -> np.ndarray:
    """``n`` texts of about ``words`` words, drawn from a pool of ``pool`` distinct ones (made once)."""
    if words not in POOLS:
        POOLS[words] = np.array([" ".join(rng.choice(WORDS, size=words)) for _ in range(pool)], dtype=object)
    return POOLS[words][rng.integers(0, pool, size=n)]


def table(start: int, n: int, rng: np.random.Generator) -> pa.Table:
    i = np.arange(start, start + n)
    judge = np.round(rng.uniform(0, 9, size=n), 2)
    return pa.table({
        "id": [f"{k:08x}/0-{k % 5}" for k in i],
        "seed": texts(rng, n, 45),
        "instruction": [f"Task {k}: " + t for k, t in zip(i, texts(rng, n, 20))],
        "response": texts(rng, n, 60),
        "code": texts(rng, n, 30),
        "tests": texts(rng, n, 15),
        "scores": pa.StructArray.from_arrays([pa.array(judge), pa.array((i % 3 != 0).astype(float))],
                                             names=["judge", "verify"]),
        "verify": pa.StructArray.from_arrays([pa.array(i % 3 != 0), pa.array(np.where(i % 3, "passed", "failed"))],
                                             names=["passed", "status"]),
        "meta": pa.StructArray.from_arrays([pa.array(np.where(i % 2, "ckA", "ckB")), pa.array(["dummy:m"] * n)],
                                           names=["checkpoint", "model"]),
    })


def make_run(root: Path, rows: int) -> Path:
    """The run folder described in the module doc (skipped when it is there already)."""
    import json

    run = root / f"run_{rows}"
    if (run / "report.json").is_file():
        return run
    shutil.rmtree(run, ignore_errors=True)
    rng = np.random.default_rng(rows)
    synth, save = run / "00_synthesize", run / "01_save"
    for d in (synth / "shards", synth / "rejected", save / "shards"):
        d.mkdir(parents=True)
    chunk, kept_total, dropped, job = 10_000, 0, {"no_tests": 0, "too_long": 0}, 0
    for c, start in enumerate(range(0, rows, chunk)):
        t = table(start, min(chunk, rows - start), rng)
        pq.write_table(t, save / "shards" / f"p000-s{c:06d}.parquet")
        kept_total += t.num_rows
        for lo in range(0, t.num_rows, 64):         # the row-local stage: one job of 64 kept rows
            key, part = f"p000-s{job:06d}", t.slice(lo, 64)
            job_dropped = {}
            if job % 10 == 0:                       # every 10th job also dropped 32 rows (5% in all)
                why = "no_tests" if job % 20 else "too_long"
                bad = table(rows + start + lo, 32, rng).to_pylist()
                packed = pack([Rejected(r, why, "no [Tests] section") for r in bad], "synthesize")
                pq.write_table(packed, synth / "rejected" / f"{key}.parquet")     # as the runner writes them
                job_dropped = {why: 32}
                dropped[why] += 32
            (synth / "stats").mkdir(exist_ok=True)
            (synth / "stats" / f"{key}.json").write_text(json.dumps(
                {"rows_in": part.num_rows + sum(job_dropped.values()), "kept": part.num_rows,
                 "dropped": job_dropped, "tokens_generated": 0, "seconds": 0.0}))
            pq.write_table(part, synth / "shards" / f"{key}.parquet")
            job += 1
    total_in = kept_total + sum(dropped.values())
    (synth / "stats.json").write_text(json.dumps({"rows_in": total_in, "kept": kept_total, "dropped": dropped,
                                                  "tokens_generated": 0, "seconds": 0.0}))
    (save / "stats.json").write_text(json.dumps({"rows_in": kept_total, "kept": kept_total, "dropped": {},
                                                 "tokens_generated": 0, "seconds": 0.0}))
    (run / "report.json").write_text(json.dumps({"name": f"bench_{rows}", "rows_out": kept_total}))
    return run


def peak_rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", text).group(1)) / 1024


def measure_viewer(run: Path, rows: int) -> dict:
    import httpx

    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "synthkit.cli", "view", str(run), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        base = None
        while base is None:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(proc.stderr.read())
            m = re.search(r"open (http://\S+)/", line)
            base = m.group(1) if m else None
        client = httpx.Client(base_url=base, timeout=600)
        while True:
            try:
                first = client.get("/")
                break
            except httpx.TransportError:
                time.sleep(0.02)
        out = {"funnel_s": time.perf_counter() - t0}
        assert first.status_code == 200, first.text
        last = (rows - 1) // 50 + 1
        last_id = f"{rows - 1:08x}/0-{(rows - 1) % 5}"
        for name, path in [("first_page_s", "/rows"), ("last_page_s", f"/rows?page={last}"),
                           ("last_page_64row_shards_s", f"/rows?stage=00_synthesize&page={last}"),
                           ("search_s", "/rows?q=Task+7"), ("score_filter_s", "/rows?score=judge&min=8.9"),
                           ("sort_s", "/rows?sort=judge"), ("drop_reason_s", "/rows?stage=00_synthesize&reason=too_long"),
                           ("drop_reason_sorted_s", "/rows?stage=00_synthesize&reason=too_long&sort=judge"),
                           ("row_by_id_s", f"/row/{last_id}")]:
            t = time.perf_counter()
            r = client.get(path)
            out[name] = time.perf_counter() - t
            assert r.status_code == 200, (path, r.text[-500:])
            if name == "first_page_s":
                out["time_to_first_page_s"] = time.perf_counter() - t0
        out["peak_rss_mb"] = peak_rss_mb(proc.pid)
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)


BASELINE = """
import re, sys, time
from pathlib import Path
t = time.perf_counter()
from synthkit.core.rundir import load_table
table = load_table(Path(sys.argv[1]))
page = table.slice(0, 50).to_pylist()
s = time.perf_counter() - t
hwm = int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024
print(s, hwm, table.num_rows)
"""


def measure_baseline(run: Path) -> dict:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", BASELINE, str(run / "01_save" / "shards")], capture_output=True,
                         text=True, cwd=ROOT, check=True)
    wall = time.perf_counter() - t0
    s, hwm, n = res.stdout.split()
    return {"load_s": float(s), "wall_s": wall, "peak_rss_mb": float(hwm), "rows": int(n)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/synthkit-bench-viewer"))
    ap.add_argument("--keep", action="store_true", help="keep the generated runs (reused by the next --keep run)")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print("| rows | time to first page | funnel | last page | last page (64-row shards) | search | score filter "
          "| sort (full scan) | drop reason | drop reason, sorted | row by id | viewer peak RSS | load whole: s, RSS "
          "| ratio s, RSS |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rows in args.rows:
        t = time.perf_counter()
        run = make_run(args.workdir, rows)
        print(f"(run of {rows:,} rows ready in {time.perf_counter() - t:.1f} s: {run})", file=sys.stderr)
        v, b = measure_viewer(run, rows), measure_baseline(run)
        print(f"| {rows:,} | {v['time_to_first_page_s']:.2f} s | {v['funnel_s']:.2f} s | {v['last_page_s']:.3f} s "
              f"| {v['last_page_64row_shards_s']:.3f} s | {v['search_s']:.3f} s | {v['score_filter_s']:.3f} s "
              f"| {v['sort_s']:.2f} s | {v['drop_reason_s']:.3f} s | {v['drop_reason_sorted_s']:.2f} s "
              f"| {v['row_by_id_s']:.2f} s "
              f"| {v['peak_rss_mb']:.0f} MB | {b['wall_s']:.2f} s, {b['peak_rss_mb']:.0f} MB "
              f"| {v['time_to_first_page_s'] / b['wall_s']:.2f}x, {v['peak_rss_mb'] / b['peak_rss_mb']:.2f}x |",
              flush=True)
        if not args.keep:
            shutil.rmtree(run)


if __name__ == "__main__":
    main()

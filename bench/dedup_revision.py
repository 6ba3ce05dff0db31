"""The dedup of any checkout of synthkit on this checkout's renamed-copies corpus: rows per CPU-second.

    git worktree add /tmp/before <commit>
    python bench/dedup_revision.py /tmp/before     # that commit's dedup
    python bench/dedup_revision.py .               # this one's, on the same rows

Rows: the standard library's functions plus ``bench/renames.py`` copies, ``--rows`` in all
(20,000 by default, built the same way by both runs). Prints, for ``normalize: text`` and
``auto``, ``find_duplicates`` on the rows (one process, 1 worker, best of 2) and the signatures
alone (``MinHasher.signatures``, best of 3), in rows per CPU-second, and auto's cost in text rows.
Run the two checkouts one after the other on the same machine to compare them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkout", help="the root of the synthkit checkout whose dedup runs")
    ap.add_argument("--rows", type=int, default=20_000)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import renames  # this checkout's corpus, built before the other synthkit is imported
    from minhash import rate  # bench/minhash.py: imports no synthkit at module level

    funcs = renames.functions(args.rows, modules=None)
    rows, _ = renames.plant(funcs, max(0, args.rows - len(funcs)), seed=0)
    sys.path.insert(0, str(Path(args.checkout).resolve()))
    import synthkit
    from synthkit.dedup.minhash import MinHasher, ShingleSpec
    from synthkit.dedup.near_dedup import DedupSettings, find_duplicates

    data = [{"code": c} for c in rows]
    out = {}
    with tempfile.TemporaryDirectory() as d:
        for norm in ("text", "auto"):
            settings = DedupSettings(spec=ShingleSpec(normalize=norm), workers=1)
            out[norm] = rate(len(rows), lambda: find_duplicates(data, settings, Path(d) / norm), 2)
            mh = MinHasher(256, 1, "fast", ShingleSpec(normalize=norm))
            mh.signatures(rows[:256])
            out[norm + "_sig"] = rate(len(rows), lambda: [mh.signatures(rows[i:i + 2048])
                                                          for i in range(0, len(rows), 2048)], 3)
    print(f"{synthkit.__file__}: {len(rows)} rows; find_duplicates text {out['text']:.0f}, auto {out['auto']:.0f} "
          f"rows/s (auto costs {out['text'] / out['auto']:.1f}x text); signatures text {out['text_sig']:.0f}, "
          f"auto {out['auto_sig']:.0f} ({out['text_sig'] / out['auto_sig']:.1f}x)")


if __name__ == "__main__":
    main()

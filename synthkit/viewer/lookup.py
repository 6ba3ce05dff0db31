"""Finding one row, a duplicate cluster, and the words a row shares with a benchmark item.

``find_row`` scans only the ``id`` column (record batches), then reads the one
row group that holds the row. Without a stage it looks where a row ends up: the
final rows, then each stage's rejected rows from the last stage back, then each
stage's kept rows.

``cluster`` reads what ``dedup_minhash`` writes into a dropped row
(``dup_cluster``: the cluster's number, ``dup_of``: the kept row's id): the
members are the stage's rejected rows of that cluster (the first ``limit``),
the kept row is in the stage's kept rows.

``shared_spans`` marks the word n-grams two texts share (lowercase ``\\w+``
tokens, as decontaminate's text view), as character spans of each text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from synthkit.viewer.source import Folder, RunSource, Stage

WORD = re.compile(r"\w+")


@dataclass
class Found:
    stage: Stage | None
    rejected: bool
    row: dict[str, Any]


def find_in(folder: Folder, row_id: str) -> dict[str, Any] | None:
    import numpy as np
    import pyarrow.compute as pc

    from synthkit.viewer.query import _batches

    for at, batch in _batches(folder, ["id"]):
        if "id" not in batch.schema.names:
            continue
        hit = np.nonzero(pc.fill_null(pc.equal(batch.column("id"), row_id), False).to_numpy(zero_copy_only=False))[0]
        if len(hit):
            return folder.read([at + int(hit[0])])[0]
    return None


def find_row(source: RunSource, row_id: str, stage_key: str | None = None,
             rejected: bool | None = None) -> Found | None:
    """The row with this id (see the module doc for where it looks)."""
    if stage_key:
        stage = source.stage(stage_key)
        places = [(stage, r) for r in ((rejected,) if rejected is not None else (False, True))]
    else:
        places = [(None, False)] + [(s, True) for s in reversed(source.stages)] + \
                 [(s, False) for s in reversed(source.stages)]
    for stage, is_rejected in places:
        path = source.rejected_path(stage) if is_rejected else source.kept_path(stage)
        row = find_in(source.folder(path), row_id)
        if row is not None:
            return Found(stage or source.final_stage(), is_rejected, row)
    return None


def cluster(source: RunSource, stage_key: str, number: int, limit: int = 24):
    """(kept row or None, the first ``limit`` dropped members, how many members in all)."""
    import numpy as np
    import pyarrow.compute as pc

    from synthkit.viewer.query import candidates

    stage = source.stage(stage_key)
    folder = source.folder(source.rejected_path(stage))
    rows, total = [], 0
    needle = f'"dup_cluster": {number}'

    def pre(batch):   # a packed file: only rows whose JSON names this cluster are parsed
        return pc.fill_null(pc.match_substring(batch.column("row"), needle), False).to_numpy(zero_copy_only=False)

    for at_rows, table in candidates(folder, ["dup_cluster"], pre):
        if "dup_cluster" not in table.schema.names:
            continue
        hit = np.nonzero(pc.fill_null(pc.equal(table.column("dup_cluster"), number), False)
                         .to_numpy(zero_copy_only=False))[0]
        total += len(hit)
        rows += [int(r) for r in at_rows[hit[: max(0, limit - len(rows))]]]
    members = folder.read(rows)
    kept_id = next((m.get("dup_of") for m in members if m.get("dup_of")), None)
    kept = find_in(source.folder(source.kept_path(stage)), kept_id) if kept_id else None
    return kept, members, total


def shared_spans(a: str, b: str, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Character spans of ``a`` and of ``b`` covered by a word n-gram both contain."""
    ta = [(m.start(), m.end(), m.group().lower()) for m in WORD.finditer(a or "")]
    tb = [(m.start(), m.end(), m.group().lower()) for m in WORD.finditer(b or "")]
    grams_a = {tuple(t[2] for t in ta[i:i + n]) for i in range(len(ta) - n + 1)}
    grams_b = {tuple(t[2] for t in tb[i:i + n]) for i in range(len(tb) - n + 1)}
    common = grams_a & grams_b
    return _covered(ta, n, common), _covered(tb, n, common)


def _covered(tokens: list[tuple[int, int, str]], n: int, common: set) -> list[tuple[int, int]]:
    marked = [False] * len(tokens)
    for i in range(len(tokens) - n + 1):
        if tuple(t[2] for t in tokens[i:i + n]) in common:
            marked[i:i + n] = [True] * n
    spans: list[tuple[int, int]] = []
    for i, ((start, end, _), on) in enumerate(zip(tokens, marked)):
        if on and i and marked[i - 1]:   # the previous token is marked too: one span over both
            spans[-1] = (spans[-1][0], end)
        elif on:
            spans.append((start, end))
    return spans

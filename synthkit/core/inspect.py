"""Rows of a run folder, for people: what ``synthkit show`` prints and ``synthkit export`` writes.

``stage_dirs(run_dir)`` lists the ``NN_<stage>`` folders in order; ``pick(run_dir,
stage)`` finds one by name (``generate``), number (``1``, ``01``) or folder name
(``01_generate``). ``rows(run_dir, stage, rejected, reason)`` reads kept rows
(``shards/``) or dropped ones (``rejected/``, unpacked to flat rows, see
``core.rejected``); rejected rows of every stage when no stage is named.
``render(row)`` is a row as indented text: one column a line, multi-line text
indented below its name, messages as ``role: content``, other values as compact
JSON, each value cut at ``width`` characters (the cut is said). Nothing here
loads more than the shards it is asked for, one at a time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from synthkit.core import rundir
from synthkit.core.rejected import reason_of
from synthkit.errors import ConfigError

FIRST = ("id", "rejected_by", "rejected_detail", "instruction", "response", "code", "tests")


def stage_dirs(run_dir: Path) -> list[Path]:
    """The stage folders of ``run_dir`` (a run folder, or one stage folder itself), in order."""
    run_dir = Path(run_dir)
    if (run_dir / rundir.DATA).is_dir() or (run_dir / rundir.REJECTED).is_dir():
        return [run_dir]
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such run folder (expected runs/<name>/ with NN_<stage>/ folders)")
    found = sorted(p for p in run_dir.iterdir() if p.is_dir() and p.name[:2].isdigit() and "_" in p.name)
    if not found:
        raise ConfigError(f"{run_dir}: not a run folder (no NN_<stage>/ folders inside)")
    return found


def pick(run_dir: Path, stage: str | None) -> Path:
    """One stage folder: ``stage`` by name, number or folder name; None: the last one."""
    dirs = stage_dirs(run_dir)
    if stage is None:
        return dirs[-1]
    for d in dirs:
        number, _, name = d.name.partition("_")
        if stage in (d.name, name) or (stage.isdigit() and int(stage) == int(number)):
            return d
    raise ConfigError(f"--stage {stage}: no such stage in {run_dir}. Available: {', '.join(d.name for d in dirs)}")


def rows(run_dir: Path, stage: str | None = None, rejected: bool = False,
         reason: str | None = None) -> Iterator[dict[str, Any]]:
    """Kept rows of one stage, or rejected rows (of one stage, or of all when ``stage`` is None),
    those with ``reason`` only when given (the reason alone or ``stage:reason``)."""
    if not rejected:
        yield from rundir.iter_rows(pick(run_dir, stage) / rundir.DATA)
        return
    dirs = [pick(run_dir, stage)] if stage is not None else stage_dirs(run_dir)
    for d in dirs:
        for row in rundir.iter_rows(d / rundir.REJECTED):
            if not reason or reason in (row.get("rejected_by"), reason_of(row.get("rejected_by"))):
                yield row


def render(row: dict[str, Any], width: int = 2000) -> str:
    """One row as readable text (see the module doc)."""
    keys = [k for k in FIRST if k in row] + [k for k in row if k not in FIRST]
    lines = []
    for key in keys:
        value = row[key]
        if value is None or value == "" or value == [] or value == {}:
            continue
        if key == "messages" and isinstance(value, list):
            lines.append("messages:")
            for m in value:
                role, text = (m.get("role"), m.get("content")) if isinstance(m, dict) else ("?", m)
                lines += _block(f"  {role}", _cut(str(text), width), "      ")
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        lines += _block(key, _cut(text, width), "    ")
    return "\n".join(lines)


def _block(name: str, text: str, indent: str) -> list[str]:
    if "\n" not in text:
        return [f"{name}: {text}"]
    return [f"{name}: |"] + [indent + line for line in text.rstrip("\n").split("\n")]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else f"{text[:width]}… ({len(text) - width} more characters)"


def export(source: Iterator[dict[str, Any]], out: Path, fmt: str) -> int:
    """Write rows as ``jsonl`` (one JSON object a line) or ``parquet`` (typed as run shards are,
    ``rundir.rows_to_table``); returns the number of rows. Written whole, then renamed into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    n = 0
    if fmt == "jsonl":
        with tmp.open("w") as f:
            for row in source:
                f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
                n += 1
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        data = list(source)
        n = len(data)
        pq.write_table(rundir.rows_to_table(data)[0], tmp)
    else:
        raise ConfigError(f"--format {fmt}: expected jsonl or parquet")
    tmp.replace(out)
    return n

"""What the viewer reads: a run folder or a saved dataset folder, file by file.

A **run folder** (``runs/<name>/``) holds ``NN_<stage>/`` folders (``shards/``,
``rejected/``, ``stats.json`` or a running stage's per-job ``stats/*.json``) and
``report.json``. A **saved dataset folder** holds ``data/*.parquet``, ``report.json``,
the card and ``images/``.

Nothing is loaded whole. A ``Folder`` reads its files' row counts from the footers
once and rows one row group at a time; footer indexes live in an LRU of
``MAX_FOLDERS`` folders. A folder of more than ``FOOTERS_UP_TO`` files is counted
from its jobs' stats when they allow it (``job_counts``). ``warm`` indexes folders
in a background thread. Rejected rows packed as JSON are unpacked when read;
``.jsonl`` shards are not shown (the page says so).
"""

from __future__ import annotations

import bisect
import json
import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthkit.core.rejected import MARK, unpack
from synthkit.errors import DataError

log = logging.getLogger(__name__)

MAX_FOLDERS = 32
FOOTERS_UP_TO = 256       # a folder with more files is counted from its jobs' stats when it can
STAGE_DIR = re.compile(r"^(\d{2,})_([A-Za-z0-9_]+)$")
PLOT_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.png$")


class NotFound(Exception):
    """A row, cluster, plot or card the URL names is not in the folder (the page answers 404)."""


@dataclass
class Stage:
    key: str      # folder name, e.g. "04_dedup_minhash": the stable URL value
    name: str     # registry name, e.g. "dedup_minhash"
    index: int
    path: Path | None


class Folder:
    """The parquet files of one folder with cumulative row counts.

    Counts come from the files' footers, or, given ``counts`` (file stem -> rows,
    from a row-local stage's per-job stats, see ``job_counts``), from those,
    since parsing thousands of footers costs about 0.1 ms of CPU each. A file's
    row groups and packed flag are then read from its footer when it is first
    read; a footer that disagrees with its count raises ``DataError``."""

    def __init__(self, path: Path, counts: dict[str, int] | None = None) -> None:
        import pyarrow.parquet as pq

        self.files = sorted(path.glob("*.parquet"), key=lambda p: p.stem) if path.is_dir() else []
        self.legacy = bool(path.is_dir() and any(path.glob("*.jsonl")))
        self._info: list[tuple[list[int], bool] | None] = [None] * len(self.files)  # (group sizes, packed)
        if counts is not None and all(f.stem in counts for f in self.files):
            rows = [counts[f.stem] for f in self.files]
        else:
            metas = [pq.read_metadata(f) for f in self.files]
            self._info = [_footer_info(m) for m in metas]
            rows = [m.num_rows for m in metas]
        self.starts: list[int] = []          # global row number of each file's first row
        total = 0
        for n in rows:
            self.starts.append(total)
            total += n
        self.rows, self.total = rows, total

    def info(self, fi: int, meta: Any = None) -> tuple[list[int], bool]:
        """(row group sizes, packed as JSON by ``core.rejected``) of file ``fi`` (``meta``:
        its footer, when the caller has it open)."""
        if self._info[fi] is None:
            import pyarrow.parquet as pq

            meta = meta if meta is not None else pq.read_metadata(self.files[fi])
            if meta.num_rows != self.rows[fi]:
                raise DataError(f"{self.files[fi]}: {meta.num_rows} rows, but its stats say {self.rows[fi]}; "
                                "the run folder changed while it was viewed: restart synthkit view")
            self._info[fi] = _footer_info(meta)
        return self._info[fi]

    def file_of(self, row: int) -> int:
        return bisect.bisect_right(self.starts, row) - 1

    def is_packed(self, row: int) -> bool:
        """Whether the file holding global row ``row`` is a packed rejected file."""
        return self.info(self.file_of(row))[1]

    def locate(self, row: int) -> tuple[int, int, int]:
        """Global row number -> (file, row group, row within the group)."""
        fi = self.file_of(row)
        at = row - self.starts[fi]
        for gi, size in enumerate(self.info(fi)[0]):
            if at < size:
                return fi, gi, at
            at -= size
        raise IndexError(f"row {row} is past the end of {self.files[fi]}")

    def read(self, rows: list[int], columns: list[str] | None = None) -> list[dict[str, Any]]:
        """The rows at these global numbers (in the order given), reading only their row groups."""
        import pyarrow.parquet as pq

        by_group: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for k, r in enumerate(rows):
            fi, gi, at = self.locate(r)
            by_group.setdefault((fi, gi), []).append((k, at))
        out: list[dict[str, Any] | None] = [None] * len(rows)
        for (fi, gi), wanted in by_group.items():
            pf, packed = pq.ParquetFile(self.files[fi]), self.info(fi)[1]
            cols = [c for c in columns if c in pf.schema_arrow.names] if columns and not packed else None
            table = pf.read_row_group(gi, columns=cols).take([at for _, at in wanted])
            got = unpack(table.to_pylist()) if packed else table.to_pylist()
            for (k, _), row in zip(wanted, got):
                out[k] = row
        return [r for r in out if r is not None]


def _footer_info(meta: Any) -> tuple[list[int], bool]:
    return [meta.row_group(g).num_rows for g in range(meta.num_row_groups)], MARK in (meta.metadata or {})


def job_counts(stage_dir: Path, kind: str) -> dict[str, int] | None:
    """Rows per job file of a row-local stage (``kind``: shards or rejected), from
    ``stats/<key>.json``: kept, or the sum of dropped. None when a job did not see
    its own rows (``rows_in`` 0: a whole-dataset stage, whose last job holds every
    count, or a source stage), when a file is unreadable, or when the jobs'
    sum differs from the stage's ``stats.json``."""
    jobs = sorted((stage_dir / "stats").glob("*.json")) if (stage_dir / "stats").is_dir() else []
    counts, total = {}, 0
    for p in jobs:
        d = _read_json(p)
        if not isinstance(d, dict) or not d.get("rows_in"):
            return None
        n = d.get("kept", 0) if kind == "shards" else sum((d.get("dropped") or {}).values())
        counts[p.stem], total = n, total + n
    whole = _read_json(stage_dir / "stats.json")
    if isinstance(whole, dict):
        want = whole.get("kept") if kind == "shards" else sum((whole.get("dropped") or {}).values())
        if want != total:
            return None
    return counts or None


class RunSource:
    """A run folder or a saved dataset folder, read lazily (see the module doc)."""

    def __init__(self, root: Path) -> None:
        root = Path(root).expanduser().resolve()
        if not root.is_dir():
            raise DataError(f"{root}: not a folder; give a run folder (runs/<name>) or a saved dataset folder")
        self.root = root
        self.stages = self._stages()
        self.dataset = None if self.stages else root / "data"
        if not self.stages and not (self.dataset.is_dir() and any(self.dataset.glob("*.parquet"))):
            raise DataError(f"{root}: neither a run folder (no NN_<stage>/ folders) nor a saved dataset "
                            "(no data/*.parquet)")
        self._folders: OrderedDict[Path, Folder] = OrderedDict()
        self._building: dict[Path, threading.Lock] = {}
        self._warmed = False
        self._lock = threading.Lock()

    def _stages(self) -> list[Stage]:
        found = []
        for p in sorted(self.root.iterdir()):
            m = STAGE_DIR.match(p.name)
            if m and p.is_dir():
                found.append(Stage(p.name, m.group(2), int(m.group(1)), p))
        return found

    @property
    def kind(self) -> str:
        return "run" if self.stages else "dataset"

    def folder(self, path: Path) -> Folder:
        """The folder's index, built once: a second caller waits for the build under way."""
        with self._lock:
            if path in self._folders:
                self._folders.move_to_end(path)
                return self._folders[path]
            building = self._building.setdefault(path, threading.Lock())
        with building:
            with self._lock:
                if path in self._folders:
                    return self._folders[path]
            many = path.is_dir() and sum(1 for _ in zip(range(FOOTERS_UP_TO + 1), path.glob("*.parquet")))
            counts = job_counts(path.parent, path.name) if many > FOOTERS_UP_TO and path.name in (
                "shards", "rejected") else None
            made = Folder(path, counts)
            with self._lock:
                self._folders[path] = made
                self._building.pop(path, None)
                while len(self._folders) > MAX_FOLDERS:
                    self._folders.popitem(last=False)
        return made

    def warm_once(self) -> None:
        """``warm`` on the first call (after the first page is served, so it does not slow that one)."""
        with self._lock:
            if self._warmed:
                return
            self._warmed = True
        self.warm()

    def warm(self) -> threading.Thread:
        """Index the folders in a daemon thread, final rows first, then each stage from the last
        back, so a first click rarely waits for the footers of thousands of shards."""
        paths = [self.kept_path(None)] + [p for s in reversed(self.stages)
                                          for p in (s.path / "shards", s.path / "rejected")]

        def run() -> None:
            try:
                for path in paths[:MAX_FOLDERS]:
                    self.folder(path)
            except Exception as e:  # a bad file: the request that needs it reports it
                log.warning("viewer: indexing stopped: %s", e)

        thread = threading.Thread(target=run, name="synthkit-view-index", daemon=True)
        thread.start()
        return thread

    def stage(self, key: str | None) -> Stage | None:
        """A stage by folder name ("04_dedup_minhash") or by name when unique; None = final rows."""
        if not key:
            return None
        hits = [s for s in self.stages if key in (s.key, s.name)]
        if len(hits) != 1:
            known = ", ".join(s.key for s in self.stages) or "none (a saved dataset has final rows only)"
            raise DataError(f"stage {key!r}: {'ambiguous' if hits else 'unknown'}; stages: {known}")
        return hits[0]

    def final_stage(self) -> Stage | None:
        return self.stages[-1] if self.stages else None

    def kept_path(self, stage: Stage | None) -> Path:
        if stage is None:
            return self.dataset if self.dataset is not None else self.final_stage().path / "shards"
        return stage.path / "shards"

    def rejected_path(self, stage: Stage) -> Path:
        return stage.path / "rejected"

    # --- the funnel, the report and the card -------------------------------------------
    def funnel(self) -> list[dict[str, Any]]:
        """One dict per stage: stats.json, or the sum of stats/*.json while it runs."""
        if not self.stages:
            report = self.report()
            return [dict(s, key=None, running=False) for s in report.get("stages", [])]
        out = []
        for s in self.stages:
            stats = _read_json(s.path / "stats.json")
            running = stats is None
            if running:
                stats = _sum_jobs(s.path / "stats")
            out.append({**stats, "stage": s.name, "index": s.index, "key": s.key, "running": running})
        return out

    def report(self) -> dict[str, Any]:
        return _read_json(self.root / "report.json") or {}

    def card_dir(self) -> Path | None:
        """The saved dataset's folder: this one, or the path the run's save stage wrote."""
        if self.dataset is not None:
            return self.root
        for s in reversed(self.stages):
            cfg = (_read_json(s.path / "_FINGERPRINT") or {}).get("config") or {}
            if s.name == "save" and cfg.get("path"):
                path = Path(cfg["path"])
                return path if path.is_dir() else None
        return None

    def plots(self) -> list[str]:
        card = self.card_dir()
        images = card / "images" if card else None
        if not images or not images.is_dir():
            return []
        return sorted(p.name for p in images.iterdir() if PLOT_NAME.match(p.name))

    def plot_path(self, name: str) -> Path | None:
        card = self.card_dir()
        if card is None or not PLOT_NAME.match(name):
            return None
        path = card / "images" / name
        return path if path.is_file() else None

    def card_text(self) -> str | None:
        card = self.card_dir()
        readme = card / "README.md" if card else None
        return readme.read_text(errors="replace") if readme and readme.is_file() else None

    def trace(self, task_id: str, checkpoint: int | None) -> list[dict[str, Any]]:
        """GiFT chain steps of one task (``trace.jsonl`` of gibbs_resample stages), streamed."""
        steps = []
        for s in self.stages:
            path = s.path / "trace.jsonl"
            if not path.is_file():
                continue
            with path.open() as f:
                for line in f:
                    if task_id not in line:
                        continue
                    t = json.loads(line)
                    if t.get("task_id") == task_id and checkpoint in (None, t.get("checkpoint")):
                        steps.append(t)
        return sorted(steps, key=lambda t: (t.get("checkpoint") or 0, t.get("step") or 0))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _sum_jobs(folder: Path) -> dict[str, Any]:
    total: dict[str, Any] = {"rows_in": 0, "kept": 0, "dropped": {}, "tokens_generated": 0, "seconds": 0.0}
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        d = _read_json(p) or {}
        for k in ("rows_in", "kept", "tokens_generated", "seconds"):
            total[k] += d.get(k, 0) or 0
        for reason, n in (d.get("dropped") or {}).items():
            total["dropped"][reason] = total["dropped"].get(reason, 0) + n
    return total

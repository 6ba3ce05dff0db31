"""Memoise any LLM's answers in SQLite, so reruns and resumed runs pay nothing.

``CachedLLM(llm, cache_dir)`` implements the ``LLM`` protocol around ``llm``.
``generate`` keys each prompt by sha256 of ``(model, prompt, params.key())``,
``logprobs`` by ``(model, prompt, continuation)``; ``model`` is the backend's
``LLMConfig.fingerprint()`` (the model by content or Hub revision, no speed
settings). Only misses reach the inner backend, in one batched call, in order;
duplicate keys in a call share one answer. ``hits`` / ``misses`` count prompts; a
given ``usage`` gets the hits. The store is ``<cache_dir>/llm_cache.sqlite`` (WAL, 60 s
busy timeout, reopened after a fork). With ``SYNTHKIT_LLM_CACHE_SHARDED=1`` (Ray
workers) a process writes only ``writers/<host>-<pid>.sqlite`` and reads the main
file read-only; ``merge_writers`` folds the writer files in. Limits: values are
JSON; nothing is evicted (delete the files to clear). Details: docs/backends.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import socket
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from synthkit.llm.base import LLM, Completion, LLMConfig, Prompt, SamplingParams, TokenLogprobs

log = logging.getLogger(__name__)

_CHUNK = 500  # keys per SELECT ... IN (...): well under SQLite's variable limit
SHARDED_ENV = "SYNTHKIT_LLM_CACHE_SHARDED"  # "1": this process writes its own file (see the module doc)
_TABLES = ("generate", "logprobs")


def _key(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class CachedLLM:
    """An ``LLM`` that answers from SQLite first and asks ``llm`` only for misses."""

    def __init__(self, llm: LLM, cache_dir: str | Path, usage: Any = None):
        self.inner = llm
        self.usage = usage
        self.model_id = llm.model_id
        config = getattr(llm, "config", None)
        self.identity: Any = config.fingerprint() if isinstance(config, LLMConfig) else llm.model_id
        self.path = Path(cache_dir) / "llm_cache.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._main_ro: sqlite3.Connection | None = None  # sharded mode: the main file, read-only
        self._pid = -1
        self.sharded = os.environ.get(SHARDED_ENV) == "1"
        self._db()  # fail now, not at the first call, if the directory is unusable

    def _db(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            path = writer_path(self.path.parent) if self.sharded else self.path
            self._conn, self._main_ro, self._pid = _open(path, exclusive=self.sharded), None, os.getpid()
        return self._conn

    def _main(self) -> sqlite3.Connection | None:
        """Sharded mode: the main file, read-only and immutable (nobody writes it while workers run)."""
        if self._main_ro is None and self.path.exists():
            uri = self.path.resolve().as_uri() + "?mode=ro&immutable=1"
            self._main_ro = sqlite3.connect(uri, uri=True, check_same_thread=False)
        return self._main_ro

    def _get(self, table: str, keys: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        uniq = list(dict.fromkeys(keys))
        with self._lock:
            _select(self._db(), table, uniq, found)
            if self.sharded and len(found) < len(uniq):
                try:
                    main = self._main()
                    if main is not None:
                        _select(main, table, [k for k in uniq if k not in found], found)
                except sqlite3.DatabaseError as e:  # written under us by a local run: a miss, not an error
                    log.debug("LLM cache %s unreadable (%s); treating as misses", self.path, e)
        return found

    def _put(self, table: str, items: dict[str, Any]) -> None:
        rows = [(k, json.dumps(v, ensure_ascii=False)) for k, v in items.items()]
        with self._lock:
            db = self._db()
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(f"INSERT OR REPLACE INTO {table} (key, value) VALUES (?, ?)", rows)
                db.execute("COMMIT")
            except BaseException as e:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                # The cache is an optimisation: a full disk must not cost the answers in hand.
                if isinstance(e, sqlite3.OperationalError) and "full" in str(e):
                    log.warning("LLM cache %s: %s; continuing without caching these answers", self.path, e)
                    return
                raise

    def _cached(self, table: str, keys: list[str], inputs: list[Any], call: Callable[[list[Any]], list[Any]]) -> list[Any]:
        """Answer ``keys`` from the table, computing misses with one ``call``."""
        found = self._get(table, keys)
        todo: dict[str, Any] = {}
        for k, x in zip(keys, inputs):
            if k not in found and k not in todo:
                todo[k] = x
        self.misses += len(todo)
        self.hits += len(keys) - len(todo)
        if self.usage is not None:
            self.usage.requests += len(keys) - len(todo)
            self.usage.cache_hits += len(keys) - len(todo)
        if todo:
            answers = call(list(todo.values()))
            if len(answers) != len(todo):
                raise RuntimeError(f"{self.model_id}: backend returned {len(answers)} answers for {len(todo)} inputs")
            fresh = dict(zip(todo, answers))
            self._put(table, fresh)
            found.update(fresh)
        return [found[k] for k in keys]

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        pkey = params.key()
        keys = [_key("generate", self.identity, p, pkey) for p in prompts]

        def call(todo: list[Prompt]) -> list[list[dict]]:
            return [[dataclasses.asdict(c) for c in cs] for cs in self.inner.generate(todo, params)]

        rows = self._cached("generate", keys, list(prompts), call)
        return [[Completion(**c) for c in cs] for cs in rows]

    def logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[TokenLogprobs]:
        if len(prompts) != len(continuations):
            raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        pairs = list(zip(prompts, continuations))
        keys = [_key("logprobs", self.identity, p, c) for p, c in pairs]

        def call(todo: list[tuple[Prompt, str]]) -> list[dict]:
            res = self.inner.logprobs([p for p, _ in todo], [c for _, c in todo])
            return [dataclasses.asdict(r) for r in res]

        rows = self._cached("logprobs", keys, pairs, call)
        return [TokenLogprobs(**r) for r in rows]

    def close(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                for conn in (self._conn, self._main_ro):
                    if conn is not None:
                        conn.close()
            self._conn = self._main_ro = None
        self.inner.close()


def _open(path: Path, exclusive: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    if exclusive:  # one writer, one file: set before WAL, so SQLite never uses shared memory
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
    for table in _TABLES:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    return conn


def _select(db: sqlite3.Connection, table: str, keys: list[str], found: dict[str, Any]) -> None:
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i:i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for k, v in db.execute(f"SELECT key, value FROM {table} WHERE key IN ({marks})", chunk):
            found[k] = json.loads(v)


def writer_path(cache_dir: str | Path) -> Path:
    """This process's own cache file in sharded mode."""
    folder = Path(cache_dir) / "writers"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{socket.gethostname()}-{os.getpid()}.sqlite"


def merge_writers(cache_dir: str | Path) -> int:
    """Fold every ``writers/*.sqlite`` into ``llm_cache.sqlite`` and delete it (one that is
    not a database, cut short by a kill, is dropped with a warning); returns the number of
    files merged. Call it only while no worker writes (the Ray executor does,
    between stages). The main file is checkpointed, so immutable readers see everything."""
    folder = Path(cache_dir) / "writers"
    files = sorted(folder.glob("*.sqlite")) if folder.is_dir() else []
    if not files:
        return 0
    main, merged = _open(Path(cache_dir) / "llm_cache.sqlite"), 0
    try:
        for f in files:
            attached = False
            try:
                main.execute("ATTACH DATABASE ? AS w", (str(f),))
                attached = True
                main.execute("BEGIN IMMEDIATE")
                for table in _TABLES:
                    main.execute(f"INSERT OR REPLACE INTO main.{table} (key, value) SELECT key, value FROM w.{table}")
                main.execute("COMMIT")
                merged += 1
            except sqlite3.DatabaseError as e:  # a file cut short by a kill: its answers are lost, not wrong
                if main.in_transaction:
                    main.execute("ROLLBACK")
                log.warning("LLM cache: could not merge %s (%s); dropping it", f, e)
            finally:
                if attached:
                    main.execute("DETACH DATABASE w")
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(f) + suffix).unlink(missing_ok=True)
        main.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        main.close()
    return merged

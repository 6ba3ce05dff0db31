"""The feature cache: append-only, memory-mapped, one folder per (checkpoint, kind, projection).

``FeatureStore(folder, dim)`` holds ``features.f32`` (``n x dim`` float32, memmapped)
and ``keys.txt`` (one row key a line). ``append`` writes and fsyncs the features, then
their keys, so a kill leaves a valid store whose complete key lines are its rows (a
torn tail is ignored and overwritten): an interrupted featurisation resumes.

One writer at a time: ``append`` holds an exclusive ``flock`` on ``<folder>/.lock``
and re-reads the keys first; a duplicate key is skipped.

Size: 4 * dim bytes a row (32 KiB at dim 8192), per checkpoint and kind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any, Sequence

FEATURES, KEYS, LOCK = "features.f32", "keys.txt", ".lock"


class FeatureStore:
    def __init__(self, folder: str | Path, dim: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self.index: dict[str, int] = {}
        self._reload()

    def __len__(self) -> int:
        return len(self.index)

    def _reload(self) -> None:
        keys: list[str] = []
        f = self.folder / KEYS
        if f.is_file():
            text = f.read_text()
            lines = text.split("\n")
            keys = [k for k in lines[:-1] if k]  # the part after the last newline is torn or empty
        feats = self.folder / FEATURES
        have = feats.stat().st_size // (4 * self.dim) if feats.is_file() else 0
        keys = keys[:have]  # never trust a key whose features are not all there
        self.index = {k: i for i, k in enumerate(keys)}
        self._n_lines = len(keys)

    def missing(self, keys: Sequence[str]) -> list[str]:
        """The distinct keys of ``keys`` not stored yet, in first-seen order."""
        out, seen = [], set()
        for k in keys:
            if k not in self.index and k not in seen:
                seen.add(k)
                out.append(k)
        return out

    def append(self, keys: Sequence[str], features: Any) -> None:
        """Store ``features`` (``[len(keys), dim]``, anything numpy reads) under ``keys``."""
        import numpy as np

        feats = np.ascontiguousarray(np.asarray(features, dtype=np.float32))
        if feats.shape != (len(keys), self.dim):
            raise ValueError(f"features of shape {feats.shape}; expected ({len(keys)}, {self.dim})")
        with open(self.folder / LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._reload()
                new = [i for i, k in enumerate(keys) if k not in self.index]
                if len(set(keys[i] for i in new)) != len(new):
                    raise ValueError("duplicate keys in one append")
                if not new:
                    return
                n = self._n_lines
                path = self.folder / FEATURES
                with open(path, "r+b" if path.is_file() else "w+b") as fh:
                    fh.truncate(n * 4 * self.dim)  # drop features a kill left past the last key
                    fh.seek(n * 4 * self.dim)
                    fh.write(feats[new].tobytes())
                    fh.flush()
                    os.fsync(fh.fileno())
                self._rewrite_keys_if_torn()
                with open(self.folder / KEYS, "a") as fh:
                    fh.write("".join(keys[i] + "\n" for i in new))
                    fh.flush()
                    os.fsync(fh.fileno())
                self._reload()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _rewrite_keys_if_torn(self) -> None:
        f = self.folder / KEYS
        if not f.is_file():
            return
        text = f.read_text()
        valid = "".join(k + "\n" for k in sorted(self.index, key=self.index.get))
        if text != valid:  # a torn line, or keys whose features were lost
            tmp = self.folder / (KEYS + ".tmp")
            tmp.write_text(valid)
            os.replace(tmp, f)

    def read(self, keys: Sequence[str]) -> Any:
        """``[len(keys), dim]`` float32 array of stored features (a KeyError names a missing key)."""
        import numpy as np

        rows = np.array([self.index[k] for k in keys], dtype=np.int64)
        if len(rows) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        mm = np.memmap(self.folder / FEATURES, dtype=np.float32, mode="r", shape=(len(self.index), self.dim))
        return np.asarray(mm[rows])


class FeatureView:
    """Features of ``keys`` in a store, read lazily: ``view[i:j]`` reads rows i..j-1
    from the memory map, ``numpy.asarray(view)`` reads them all."""

    def __init__(self, store: FeatureStore, keys: Sequence[str]) -> None:
        missing = [k for k in keys if k not in store.index]
        if missing:
            raise KeyError(f"{len(missing)} keys not in {store.folder}, e.g. {missing[0]}")
        self.store, self.keys = store, list(keys)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.keys), self.store.dim)

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, item: slice) -> Any:
        if not isinstance(item, slice):
            raise TypeError("index a FeatureView with a slice")
        return self.store.read(self.keys[item])

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        out = self.store.read(self.keys)
        return out if dtype is None else out.astype(dtype)

"""``load_seeds``' inputs, seen before it runs: do they exist, what columns, what identity.

- ``check_inputs(config, resolve)``: a local ``path``, a ``source`` file or
  folder, or a ``tasks`` file that does not exist is a ``ConfigError`` naming
  the key and the absolute path (``synthkit validate`` calls it). A ``kind: hf``
  ``path_or_id`` that is no local path is taken as a Hub id and not checked.
- ``file_columns(path, split)``: the columns of a seed file, read from the
  parquet footer, the first 1,000 JSON lines, or a ``save_to_disk`` folder's
  ``dataset_info.json``; None when they cannot be known without reading it all.
- ``identify(config, resolve, index)``: the ``inputs`` entries ``core.rerun``
  records (local files by sha256, bundled sources by name, Hub ids with revision).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from synthkit.core.rerun import file_input
from synthkit.data.tasksets import looks_like_path
from synthkit.errors import ConfigError

Resolve = Callable[[str], Path]


def _local(config: Any) -> list[tuple[str, str]]:
    """(key, configured path) of each local input of a load_seeds config."""
    src = config.source
    if config.path is not None:
        return [("path", config.path)]
    if config.tasks is not None:
        return [("tasks", config.tasks)] if looks_like_path(config.tasks) else []
    if getattr(src, "kind", None) in ("directory", "jsonl", "parquet"):
        return [("source.path", src.path)]
    return []


def check_inputs(config: Any, resolve: Resolve) -> None:
    for key, value in _local(config):
        path = resolve(value).resolve()
        if not path.exists():
            raise ConfigError(f"{key}: {path} does not exist (set as '{value}'; relative paths are read "
                              "from the pipeline file's folder)")


def file_columns(path: Path, split: str | None = None) -> list[str] | None:
    """Column names of a seed file (see the module doc), or None."""
    name = path.name.lower()
    try:
        if path.is_dir():
            return _disk_columns(path, split)
        if name.endswith(".parquet"):
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        if name.endswith((".jsonl", ".ndjson")):
            return _jsonl_columns(path)
    except (OSError, ValueError):
        return None
    return None


def _jsonl_columns(path: Path, limit: int = 1000) -> list[str] | None:
    names: dict[str, None] = {}
    with path.open() as f:
        for i, line in enumerate(f):
            if i >= limit:
                return None  # a later row may add columns; do not judge
            if line.strip():
                row = json.loads(line)
                if not isinstance(row, dict):
                    return None
                names.update(dict.fromkeys(row))
    return list(names)


def _disk_columns(path: Path, split: str | None) -> list[str] | None:
    info = path / "dataset_info.json"
    if not info.is_file() and split is not None:
        info = path / split / "dataset_info.json"
    if not info.is_file():
        return None
    features = json.loads(info.read_text()).get("features")
    return list(features) if isinstance(features, dict) else None


def identify(config: Any, resolve: Resolve, index: int) -> list[dict[str, Any]]:
    """The ``inputs`` entries of stage ``index`` (a load_seeds config)."""
    out = [file_input(resolve(v), index, k) for k, v in _local(config) if resolve(v).exists()]
    src = config.source
    if config.tasks is not None and not looks_like_path(config.tasks):
        out.append({"stage": index, "key": "tasks", "bundled": config.tasks, "synthkit": _version()})
    elif getattr(src, "kind", None) == "python_package":
        out.append({"stage": index, "key": "source", "bundled": "python_package",
                    "packages": {p: _package_version(p) for p in src.packages}})
    elif getattr(src, "kind", None) == "hf":
        local = resolve(src.path_or_id)
        if local.exists():
            out.append(file_input(local, index, "source.path_or_id"))
        else:
            out.append({"stage": index, "key": "source", "hub": src.path_or_id, "subset": src.subset,
                        "split": src.split, "revision": src.revision or _hub_revision(src.path_or_id)})
    return out


def _version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("synthkit")
    except metadata.PackageNotFoundError:
        return None


def _package_version(module: str) -> str | None:
    """The version of the distribution providing ``module`` (None for the standard library)."""
    import sys
    from importlib import metadata

    top = module.split(".")[0]
    if top in sys.stdlib_module_names:
        return f"python {sys.version.split()[0]}"
    for dist in metadata.packages_distributions().get(top, []):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def _hub_revision(repo_id: str) -> str | None:
    """The commit the Hub dataset is at now (None offline or on any error)."""
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(repo_id, timeout=10).sha
    except Exception:  # noqa: BLE001 - offline, private, gone: the record says "unpinned"
        return None

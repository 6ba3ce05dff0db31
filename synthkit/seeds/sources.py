"""Where seed code comes from: the ``source:`` block of ``load_seeds``.

``source`` is a discriminated union on ``kind`` (a wrong kind lists the valid ones).
Each source yields ``Document``s (text plus provenance) in a deterministic order.

- ``python_package``: packages or stdlib modules by import name, located with
  ``importlib.util.find_spec``, never imported; license from the distribution's
  metadata (``PSF-2.0`` for the stdlib, ``None`` if unknown).
- ``directory``: ``*.py`` files under a folder, sorted by relative path.
- ``jsonl`` / ``parquet``: one document per row, text from ``field``.
- ``hf``: a ``save_to_disk`` folder or a Hub id (streamed; ``max_docs`` bounds it).

``meta_fields`` maps meta keys to columns copied into each row's meta (tables, ``hf``).
"""

from __future__ import annotations

import fnmatch
import importlib.metadata as md
import importlib.util
import logging
import sys
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Annotated, Any, ClassVar, Iterable, Iterator, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from synthkit.errors import DataError

log = logging.getLogger(__name__)

DEFAULT_EXCLUDE = ["*/tests/*", "*/test/*", "*/test_*.py", "*_test.py", "*/setup.py"]


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PythonPackageSource(_Source):
    kind: Literal["python_package"] = Field(description="installed packages or the stdlib, by import name")
    packages: list[str] = Field(min_length=1, description="import names: [textwrap, json]")
    exclude: list[str] = Field(default_factory=lambda: list(DEFAULT_EXCLUDE), description="globs on \"/<rel path>\"")


class DirectorySource(_Source):
    kind: Literal["directory"] = Field(description="Python files under a folder")
    path: str = Field(description="relative to the pipeline file")
    glob: str = Field("**/*.py", description="files read, relative to `path`")
    exclude: list[str] = Field(default_factory=lambda: list(DEFAULT_EXCLUDE), description="globs on \"/<rel path>\"")
    license: str | None = Field(None, description="recorded in meta (we cannot know it)")


class _TableLike(_Source):
    former_keys: ClassVar[dict[str, str]] = {"field_map": "field (the text column) and meta_fields"}
    field: str = Field("content", description="column holding the code text")
    meta_fields: dict[str, str] = Field(default_factory=dict, description="meta key -> column copied into meta")
    extract: bool = Field(True, description="cut defs out (False: each row is a seed)")
    license: str | None = Field(None, description="recorded in meta where the rows carry none")


class TableSource(_TableLike):
    kind: Literal["jsonl", "parquet"] = Field(description="a table file of code texts")
    path: str = Field(description="the file (relative to the pipeline file)")


class HFSource(_TableLike):
    kind: Literal["hf"] = Field(description="a Hugging Face dataset (save_to_disk folder or Hub id)")
    path_or_id: str = Field(description="save_to_disk directory, or a Hub dataset id")
    split: str = Field("train", description="split read")
    subset: str | None = Field(None, description="Hub config name")
    revision: str | None = Field(None, description="Hub revision (pin it for reproducibility)")
    max_docs: int | None = Field(None, ge=1, description="read at most this many documents")


SeedSource = Annotated[Union[PythonPackageSource, DirectorySource, TableSource, HFSource],
                       Field(discriminator="kind")]


@dataclass
class Document:
    text: str
    meta: dict[str, Any]   # module, path, license (+ doc index for tables)
    extract: bool = True   # False: the text is a seed as-is


def iter_documents(src: Any, resolve) -> Iterator[Document]:
    """Documents of ``src``; ``resolve`` maps a config path to an absolute Path."""
    if isinstance(src, PythonPackageSource):
        for name in src.packages:
            yield from _package_documents(name, src.exclude)
    elif isinstance(src, DirectorySource):
        root = resolve(src.path)
        if not root.is_dir():
            raise DataError(f"source.path: directory not found: {root}")
        for f in _py_files(root, src.glob, src.exclude):
            rel = f.relative_to(root).as_posix()
            yield Document(_read_text(f), {"module": _module_name(rel), "path": rel,
                                           "license": src.license})
    elif isinstance(src, TableSource):
        from synthkit.data.records import read_rows
        path = resolve(src.path)
        yield from _table_documents(read_rows(path, "source.path"), str(path), src)
    else:
        yield from _hf_documents(src, resolve)


def _package_documents(name: str, exclude: list[str]) -> Iterator[Document]:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as e:
        raise DataError(f"source.packages: cannot locate '{name}' ({e})") from e
    if spec is None:
        raise DataError(f"source.packages: no installed module or package named '{name}'")
    license_ = package_license(name.split(".")[0])
    if spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            root = Path(loc)
            for f in _py_files(root, "**/*.py", exclude):
                rel = (Path(root.name) / f.relative_to(root)).as_posix()
                yield Document(_read_text(f), {"module": _module_name(rel), "path": rel,
                                               "license": license_})
    elif spec.origin and spec.origin.endswith(".py"):
        f = Path(spec.origin)
        yield Document(_read_text(f), {"module": name, "path": f.name, "license": license_})
    else:
        raise DataError(f"source.packages: '{name}' has no Python source (origin: {spec.origin})")


def _py_files(root: Path, pattern: str, exclude: list[str]) -> list[Path]:
    files = []
    for f in sorted(root.glob(pattern)):
        rel = "/" + f.relative_to(root).as_posix()
        if f.is_file() and not any(fnmatch.fnmatch(rel, g) for g in exclude):
            files.append(f)
    return files


def _read_text(f: Path) -> str:
    # Undecodable bytes become U+FFFD; the file then usually fails to parse
    # and is skipped as unparseable instead of stopping the run.
    return f.read_bytes().decode("utf-8", errors="replace")


def _module_name(rel: str) -> str:
    parts = rel[:-3].split("/") if rel.endswith(".py") else rel.split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_license(top: str) -> str | None:
    """Best-effort license of the distribution that provides module ``top``."""
    if top in sys.stdlib_module_names:
        return "PSF-2.0"
    for dist in md.packages_distributions().get(top, []):
        try:
            meta = md.metadata(dist)
        except md.PackageNotFoundError:
            continue
        expr = meta.get("License-Expression")
        if expr:
            return expr.strip()
        lic = (meta.get("License") or "").strip()
        if lic and "\n" not in lic and len(lic) <= 64 and lic.upper() != "UNKNOWN":
            return lic
        for c in meta.get_all("Classifier") or []:
            if c.startswith("License ::") and c.split("::")[-1].strip() != "OSI Approved":
                return c.split("::")[-1].strip()
    return None


def _table_documents(rows: Iterable[dict[str, Any]], where: str, src: "_TableLike") -> Iterator[Document]:
    col = src.field
    for i, row in enumerate(rows):
        if col not in row:
            raise DataError(f"{where}: row {i} has no column '{col}'; columns: {', '.join(row)}")
        text = row[col]
        if not isinstance(text, str):
            raise DataError(f"{where}: row {i} column '{col}' is {type(text).__name__}, expected str")
        meta: dict[str, Any] = {"module": None, "path": where, "license": src.license, "doc": i}
        for ours, theirs in src.meta_fields.items():
            if theirs in row:
                meta[ours] = row[theirs]
        if "id" in row:
            meta["doc_id"] = str(row["id"])
        yield Document(text, meta, src.extract)


def _hf_documents(src: HFSource, resolve) -> Iterator[Document]:
    import datasets

    local = resolve(src.path_or_id)
    if local.exists():
        from synthkit.data.records import read_rows
        rows = read_rows(local, "source.path_or_id", src.split)
        if src.max_docs:
            rows = rows[:src.max_docs]
        yield from _table_documents(rows, str(local), src)
        return
    # Not on disk: a Hub id. Streaming reads only the documents we use.
    try:
        ds = datasets.load_dataset(src.path_or_id, src.subset, split=src.split,
                                   revision=src.revision, streaming=True)
    except Exception as e:  # datasets raises many types for "not found / no access"
        raise DataError(f"source.path_or_id: cannot load '{src.path_or_id}' from disk or the Hub ({e})") from e
    rows = islice(iter(ds), src.max_docs) if src.max_docs else iter(ds)
    yield from _table_documents(rows, src.path_or_id, src)

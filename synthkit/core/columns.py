"""Load-time column checks: every column a stage reads must come from an earlier stage.

``check_columns(stages, given)`` walks the pipeline before any stage runs, using
``Stage.reads`` / ``Stage.writes`` (or ``columns_read()`` / ``columns_written()``),
and raises ``ConfigError`` at the first read nothing before it provides, naming the
column, the columns available there and the stages that write it.

- A read is a name or a tuple of alternatives (one is enough).
- A stage's output is its input plus its writes; a source stage (``reads_input =
  False``) starts over from its writes.
- ``columns_written()`` returning ``None`` is "unknown": every later read passes.
- ``given``: the columns of rows given in memory, or empty.

Limit: names only, not types or content; an empty column still fails at run time.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from synthkit.errors import ConfigError

if TYPE_CHECKING:
    from synthkit.core.stage import Stage

Read = str | tuple[str, ...]


def template_fields(template: str) -> list[str]:
    """The row columns a ``str.format`` template names (``{a}``, ``{b.c}`` -> ``a``, ``b``), in order."""
    out: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ConfigError(f"template is not a valid format string ({e}); write a literal brace as {{{{ or }}}}") from None
    for _, field, _, _ in parsed:
        if field is None:
            continue
        root = field.split(".", 1)[0].split("[", 1)[0]
        if root and not root.isdigit() and root not in out:
            out.append(root)
    return out


def writers(column: str) -> list[str]:
    """Registered stages whose class declares ``column`` among its writes (by default config)."""
    from synthkit.core.registry import STAGES

    found = []
    for name in STAGES.names():
        try:
            cls = STAGES.get(name)
        except ConfigError:
            continue
        declared = getattr(cls, "writes", ()) or ()
        if column in declared:
            found.append(name)
    return found


def _describe(read: Read) -> str:
    return f"'{read}'" if isinstance(read, str) else "one of " + ", ".join(f"'{c}'" for c in read)


def _missing(read: Read, have: set[str]) -> bool:
    alternatives = (read,) if isinstance(read, str) else read
    return not any(c in have for c in alternatives)


def check_columns(stages: Sequence["Stage"], given: Iterable[str] | None = ()) -> None:
    """Raise ``ConfigError`` for the first stage read no earlier stage provides (see module doc).
    ``given=None`` means the input's columns are unknown (nothing is checked until a source stage)."""
    have: set[str] | None = None if given is None else set(given)
    for stage in stages:
        if not stage.reads_input:
            have = set()
        if have is not None:
            for read, why in stage.columns_read():
                if _missing(read, have):
                    raise ConfigError(_message(stage, read, why, have))
        written = stage.columns_written()
        if written is None:
            have = None
        elif have is not None:
            have |= set(written)


def _message(stage: "Stage", read: Read, why: str, have: set[str]) -> str:
    names = [read] if isinstance(read, str) else list(read)
    could = sorted({w for c in names for w in writers(c)})
    where = f"stages.{stage.ctx.index} ({stage.name})"
    available = ", ".join(sorted(have)) or "nothing: no earlier stage and no input rows"
    return (f"{where}: {why + ': ' if why else ''}no earlier stage provides column {_describe(read)} "
            f"(available here: {available}); stages that write it: {', '.join(could) or 'none'}")


def folder_columns(folder: Path) -> list[str] | None:
    """Column names of the shards in ``folder`` (read from the parquet footers); None when it holds no rows."""
    import pyarrow.parquet as pq

    from synthkit.core import rundir

    names: dict[str, None] = {}
    rows = 0
    for p in rundir.shard_files(folder):
        if p.suffix != ".parquet":
            return None
        rows += pq.ParquetFile(p).metadata.num_rows
        names.update(dict.fromkeys(pq.read_schema(p).names))
    return list(names) if rows else None

"""map: replace each row by what a Python function of yours returns.

    - stage: map
      function: my_pkg.cleaning:normalize   # `module:function`, importable
      kwargs: {lowercase: true}             # optional: fn(row, **kwargs)

- ``fn(row, **kwargs) -> dict`` returns the whole new row, keeping its ``id``; it gets
  a deep copy of the row.
- An exception drops the row as ``Rejected(reason="map_error")`` with
  ``"<Type>: <message>"``; the stage goes on.
- A non-dict, or a changed ``id``, is a ``DataError`` naming the function and row id.
- The function is imported at validation (``stages.N.function: cannot import ...``).

Limit: the fingerprint covers the config and the function's own source, not code it
calls (delete the stage folder to rerun).
"""

from __future__ import annotations

import copy
import hashlib
import inspect
from typing import Any, Callable, Iterator

from pydantic import Field, field_validator

from synthkit.core.record import Rejected, Row
from synthkit.core.registry import import_object, register_stage
from synthkit.core.stage import Stage, StageConfig, StageContext
from synthkit.errors import ConfigError, DataError


def import_function(ref: str) -> Callable[..., Any]:
    """The callable ``module:function`` names; ``ConfigError`` if there is none."""
    fn = import_object(ref)
    if not callable(fn):
        raise ConfigError(f"'{ref}' is not callable (it is of type {type(fn).__name__})")
    return fn


class FunctionConfig(StageConfig):
    """The config of a stage that calls a function of yours per row (map, filter)."""

    function: str = Field(description="`module.path:function`, called as fn(row, **kwargs)")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="extra keyword arguments for the function")

    @field_validator("function")
    @classmethod
    def _importable(cls, ref: str) -> str:
        try:
            import_function(ref)
        except ConfigError as e:
            raise ValueError(str(e)) from None
        return ref


def call_each(fn: Callable[..., Any], kwargs: dict[str, Any], batch: list[Row],
              error_reason: str) -> Iterator[tuple[Row, Any]]:
    """(row, what ``fn`` returned for a deep copy of it) for each row; an exception
    becomes ``Rejected(row, error_reason, "<Type>: <message>")`` in its place."""
    for row in batch:
        try:
            yield row, fn(copy.deepcopy(row), **kwargs)
        except Exception as e:  # the row's fault or the function's: either way, one row
            yield row, Rejected(row, error_reason, f"{type(e).__name__}: {e}")


def source_hash(fn: Callable[..., Any]) -> str:
    """A hash of ``fn``'s source (its qualified name when there is no source)."""
    try:
        text = inspect.getsource(fn)
    except (OSError, TypeError):
        text = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@register_stage("map")
class Map(Stage):
    """Replace each row by fn(row, **kwargs) of a `module:function` of yours."""

    reads, writes = (), None  # the function may add any column: checks stop after a map

    class Config(FunctionConfig):  # function: fn(row, **kwargs) -> the new row (a dict)
        pass

    def __init__(self, config: StageConfig, ctx: StageContext) -> None:
        super().__init__(config, ctx)
        self.fn = import_function(config.function)

    def fingerprint_extra(self) -> dict[str, Any]:
        return {"function_source": source_hash(self.fn)}

    def process(self, batch: list[Row]) -> list[Row | Rejected]:
        out: list[Row | Rejected] = []
        for row, new in call_each(self.fn, self.config.kwargs, batch, "map_error"):
            if isinstance(new, Rejected):
                out.append(new)
                continue
            if not isinstance(new, dict):
                raise DataError(f"map function {self.config.function} returned a {type(new).__name__} "
                                f"for row '{row.get('id')}'; it must return the new row, a dict")
            if new.get("id") != row.get("id"):
                raise DataError(f"map function {self.config.function} changed the id of row '{row.get('id')}' "
                                f"to {new.get('id')!r}; a map keeps each row's id (return {{**row, ...}})")
            out.append(new)
        return out

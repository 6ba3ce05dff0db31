"""One generic name -> class registry (lm-evaluation-harness style).

A bad name is answered with every name that would have worked::

    Unknown stage 'sample_llms'. Available: generate, judge, load_seeds, ...
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Callable, Generic, TypeVar

from synthkit.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps snake_case keys to classes. ``package``, when given, is imported
    module by module on first lookup, so registration happens on demand."""

    def __init__(self, kind: str, package: str | None = None) -> None:
        self.kind = kind
        self.package = package
        self._items: dict[str, type[T]] = {}
        self._loaded = package is None

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def decorate(cls: type[T]) -> type[T]:
            if name in self._items and self._items[name] is not cls:
                raise ValueError(f"{self.kind} '{name}' is registered twice: "
                                 f"{self._items[name].__module__} and {cls.__module__}")
            self._items[name] = cls
            cls.name = name  # type: ignore[attr-defined]
            return cls
        return decorate

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        pkg = importlib.import_module(self.package)  # type: ignore[arg-type]
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_"):
                importlib.import_module(f"{self.package}.{mod.name}")

    def get(self, name: str) -> type[T]:
        self._load()
        if name not in self._items:
            raise ConfigError(f"Unknown {self.kind} '{name}'. Available: {', '.join(self.names())}")
        return self._items[name]

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def describe(self) -> list[tuple[str, str, int, str]]:
        """(name, file, line, first doc line) for every entry, sorted by name."""
        rows = []
        for name in self.names():
            cls = self._items[name]
            file = inspect.getsourcefile(cls) or "?"
            line = inspect.getsourcelines(cls)[1]
            doc = (inspect.getdoc(cls) or "").strip().splitlines()
            rows.append((name, file, line, doc[0] if doc else ""))
        return rows


STAGES: Registry = Registry("stage", package="synthkit.stages")


def register_stage(name: str):
    """Class decorator: ``@register_stage("verify_tests")``. The name must equal
    the module's file name (``stages/verify_tests.py``)."""
    return STAGES.register(name)

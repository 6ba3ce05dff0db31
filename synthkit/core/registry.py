"""One generic name -> class registry (lm-evaluation-harness style).

A bad name is answered with every name that would have worked
(``Unknown stage 'sample_llms'. Available: generate, judge, ...``). Lookup order:

- built-in: every module of ``synthkit.stages``, imported on the first lookup;
- installed plugins: entry points of group ``synthkit.stages`` (name = stage name,
  value = ``module:Class``). A name already taken is a ``ConfigError`` naming both;
  a plugin that fails to import is logged and skipped;
- a reference, ``stage: my_pkg.my_module:MyStage``: imported when looked up, never
  listed; without ``@register_stage`` it is named ``my_stage``.

``STAGES.reload()`` scans the entry points again (after ``pip install``). See
docs/plugins.md.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import re
from typing import Any, Callable, Generic, NamedTuple, TypeVar

from synthkit.core.stage import Stage, StageConfig
from synthkit.errors import ConfigError

T = TypeVar("T")
log = logging.getLogger(__name__)


class Entry(NamedTuple):
    """One line of ``synthkit stages``."""

    name: str
    source: str   # "builtin", the plugin's distribution name, or "local" (registered by running code)
    file: str
    line: int
    doc: str      # first line of the class docstring


def import_object(ref: str) -> Any:
    """The object ``module.path:attr`` (``attr`` may be dotted) names.

    Raises ``ConfigError`` saying which part failed; an import error's own text
    is kept, since it usually names the missing package."""
    module, sep, attr = ref.partition(":")
    if not sep or not module.strip() or not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", attr.strip()):
        raise ConfigError(f"'{ref}' is not a reference: expected `module.path:Name`")
    module, attr = module.strip(), attr.strip()
    try:
        obj = importlib.import_module(module)
    except Exception as e:  # a module's import can fail with anything, not only ImportError
        hint = ""
        if isinstance(e, ModuleNotFoundError) and e.name == module.split(".")[0]:
            hint = (" (it must be importable: installed, or on PYTHONPATH; the `synthkit` command "
                    "does not add the current directory, so try PYTHONPATH=.)")
        raise ConfigError(f"cannot import module '{module}' (from '{ref}'): "
                          f"{type(e).__name__}: {e}{hint}") from e
    for i, part in enumerate(attr.split(".")):
        if not hasattr(obj, part):
            owner = ".".join([module, *attr.split(".")[:i]])
            raise ConfigError(f"module '{owner}' has no attribute '{part}' (from '{ref}')")
        obj = getattr(obj, part)
    return obj


def snake_case(text: str) -> str:
    """``MyStage`` -> ``my_stage``, ``Too long!`` -> ``too_long``: a name safe in a folder or a stat key."""
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


class Registry(Generic[T]):
    """Maps snake_case keys to classes. ``package``, when given, is imported
    module by module on first lookup, so registration happens on demand;
    ``group`` names the entry-point group scanned for plugins at the same time.
    ``check(obj)`` returns why ``obj`` cannot be an entry (or None when it can)."""

    def __init__(self, kind: str, package: str | None = None, group: str | None = None,
                 check: Callable[[Any], str | None] | None = None) -> None:
        self.kind = kind
        self.package = package
        self.group = group
        self.check = check
        self._items: dict[str, type[T]] = {}
        self._plugins: dict[str, str] = {}  # name -> "entry point value (distribution)"
        self._dists: dict[str, str] = {}    # name -> distribution name
        self._clashes: list[str] = []
        self._loaded = package is None and group is None

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def decorate(cls: type[T]) -> type[T]:
            if name in self._items and self._items[name] is not cls:
                raise ValueError(f"{self.kind} '{name}' is registered twice: "
                                 f"{self._items[name].__module__} and {cls.__module__}")
            self._items[name] = cls
            cls.name = name  # type: ignore[attr-defined]
            return cls
        return decorate

    def reload(self) -> None:
        """Forget the plugins and scan the entry points again on the next lookup.
        Built-ins and classes registered by running code stay."""
        for name in self._plugins:
            self._items.pop(name, None)
        self._plugins, self._dists, self._clashes = {}, {}, []
        self._loaded = self.package is None and self.group is None

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            if self.package:
                pkg = importlib.import_module(self.package)
                for mod in pkgutil.iter_modules(pkg.__path__):
                    if not mod.name.startswith("_"):
                        importlib.import_module(f"{self.package}.{mod.name}")
            if self.group:
                self._load_entry_points()
        if self._clashes:  # raised on every lookup, not once: the registry stays ambiguous
            raise ConfigError("\n".join(self._clashes))

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        for ep in sorted(entry_points(group=self.group), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else "unknown distribution"
            where = f"entry point '{ep.name} = {ep.value}' of {dist}"
            if ep.name in self._plugins or (ep.name in self._items and self._source(ep.name) == "builtin"):
                self._clash(ep.name, where)
                continue
            try:
                cls = ep.load()
                why = self.check(cls) if self.check else None
            except Exception as e:  # one broken plugin must not hide the others
                log.warning("skipping %s %s: %s: %s", self.kind, where, type(e).__name__, e)
                continue
            if why:
                log.warning("skipping %s %s: %s", self.kind, where, why)
                continue
            if ep.name in self._items and self._items[ep.name] is not cls:
                self._clash(ep.name, where)  # its module registered the name itself, for another class
                continue
            self._items[ep.name] = cls
            cls.name = ep.name  # type: ignore[attr-defined]
            self._plugins[ep.name], self._dists[ep.name] = where, dist

    def _clash(self, name: str, where: str) -> None:
        other = self._plugins.get(name) or f"{self._source(name)} {self._items[name].__module__}"
        self._clashes.append(f"{self.kind} '{name}' is defined twice: by {other} and by {where}; "
                             "rename the entry point or uninstall one of them")

    def get(self, name: str) -> type[T]:
        """The class for ``name``, or for a ``module:Class`` reference."""
        self._load()
        if ":" in name:
            return self.get_reference(name)
        if name not in self._items:
            hint = " (to load your own class, write `module.path:ClassName`)" if "." in name else ""
            raise ConfigError(f"Unknown {self.kind} '{name}'. Available: {', '.join(self.names())}{hint}")
        return self._items[name]

    def get_reference(self, ref: str) -> type[T]:
        """The class ``module.path:Class`` names, checked like a plugin. It keeps
        the name it was registered under; otherwise it is named after ``Class``."""
        cls = import_object(ref)
        why = self.check(cls) if self.check else None
        if why:
            raise ConfigError(f"'{ref}' {why}")
        registered = cls.__dict__.get("name")
        if not (registered and self._items.get(registered) is cls):
            cls.name = snake_case(ref.rpartition(":")[2].rpartition(".")[2]) or "stage"  # type: ignore[attr-defined]
        return cls

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def _source(self, name: str) -> str:
        if name in self._dists:
            return self._dists[name]
        module = self._items[name].__module__
        return "builtin" if self.package and module.startswith(self.package + ".") else "local"

    def describe(self) -> list[Entry]:
        """(name, source, file, line, first doc line) for every entry, sorted by name."""
        rows = []
        for name in self.names():
            cls = self._items[name]
            try:
                file, line = inspect.getsourcefile(cls) or "?", inspect.getsourcelines(cls)[1]
            except (OSError, TypeError):  # a class built at runtime has no source
                file, line = "?", 0
            doc = (inspect.getdoc(cls) or "").strip().splitlines()
            rows.append(Entry(name, self._source(name), file, line, doc[0] if doc else ""))
        return rows


def _check_stage(obj: Any) -> str | None:
    if not (isinstance(obj, type) and issubclass(obj, Stage)):
        what = f"class {obj.__qualname__}" if isinstance(obj, type) else f"of type {type(obj).__name__}"
        return f"is not a subclass of synthkit.core.stage.Stage (it is {what})"
    config = getattr(obj, "Config", None)
    if not (isinstance(config, type) and issubclass(config, StageConfig)):
        return "has no nested `Config` class that subclasses synthkit.core.stage.StageConfig"
    return None


STAGES: Registry = Registry("stage", package="synthkit.stages", group="synthkit.stages", check=_check_stage)


def register_stage(name: str):
    """Class decorator: ``@register_stage("verify_tests")``. The name must equal
    the module's file name (``stages/verify_tests.py``)."""
    return STAGES.register(name)

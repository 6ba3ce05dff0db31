"""Exceptions that carry a message meant for the user, not a traceback."""


class SynthkitError(Exception):
    """Base class: the CLI prints these as one clean message and exits 2."""


class ConfigError(SynthkitError):
    """A pipeline or stage configuration is wrong. The message names the field."""


class DataError(SynthkitError):
    """Input data is missing or malformed. The message names the file or column."""


class MissingDependency(SynthkitError):
    """An optional dependency is absent; the message holds the pip command."""


def require(module: str, extra: str | None = None, pip_name: str | None = None):
    """Import ``module`` or fail with the exact install command."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        cmd = f"pip install 'synthkit[{extra}]'" if extra else f"pip install {pip_name or module}"
        raise MissingDependency(f"'{module}' is not installed ({e}). Run: {cmd}") from e

"""The one exception the pipeline's parse-time checks raise, and its message format."""

from __future__ import annotations

from typing import NoReturn

from onepass.training.config import ConfigError as RunConfigError


class ConfigError(RunConfigError):
    """A pipeline config mistake, reported as `config: <key path>: <message>`.

    A subclass of the library's ConfigError so callers catching that one catch this one too;
    the key path is the path in the pipeline config (experiments.X.grid.lookback), not in the
    run configuration of one job, so the user knows which line of the YAML to fix.
    """


def fail(path: str, message: str) -> NoReturn:
    """Raise a ConfigError for the key `path`."""
    raise ConfigError(f"config: {path}: {message}")

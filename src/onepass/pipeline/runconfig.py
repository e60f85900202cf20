"""The run configuration of every planned job, validated exactly as `onepass train --set` does.

A typo in `overrides` (or `algorithm_overrides`, `grid`, `grid_derived`) would otherwise pass the
plan and fail inside every job. Each planned (sub-experiment, algorithm) is built here with the
CLI's own functions (`build_config` on the `key=value` words the job will receive, then
`resolve_config`), and the library's error is re-reported at the key path of the pipeline config
that set the offending key.
"""

from __future__ import annotations

import re
from typing import Any

from onepass.training.algorithms import get_algorithm, resolve_config
from onepass.training.config import ConfigError as RunConfigError
from onepass.training.config import build_config, load_dataset_config

from .errors import fail
from .jobs import set_words

# The library names the key in every message: "unknown config key 'x'" or "config key 'x': ...".
_KEY = re.compile(r"config key '([^']+)'")

# (dataset, algorithm, --set words) already validated: the paper repeats them across chunks/cells.
_VALID: set[tuple[str, str, tuple[str, ...]]] = set()


def _key_path(key: str | None, origins: dict[str, str]) -> str | None:
    """The pipeline config path that set `key` (or the section holding it, or a key inside it)."""
    if key is None:
        return None
    if key in origins:
        return origins[key]
    for set_key, path in origins.items():
        if key.startswith(f"{set_key}.") or set_key.startswith(f"{key}."):
            return path
    return None


def check_run_config(
    dataset: str, algorithm: str, overrides: dict[str, Any], origins: dict[str, str], where: str
) -> None:
    """Raise a pipeline ConfigError unless `onepass train` accepts this job's settings.

    `overrides` are the merged dotted `--set` keys of the job, `origins` the pipeline config path
    of each, `where` the experiment's path (used when the error names no key that was set).
    """
    words = set_words(overrides)
    cache_key = (dataset, algorithm, tuple(words))
    if cache_key in _VALID:
        return
    try:
        dataset_config = load_dataset_config(dataset)  # parsed once per process by the registry
    except RunConfigError as error:
        fail(f"{where}.dataset", str(error))
    stage = "build"
    try:
        config = build_config(dataset_config, words)
        stage = "resolve"
        resolve_config(config, get_algorithm(algorithm))
    except RunConfigError as error:
        match = _KEY.search(str(error))
        path = _key_path(match.group(1) if match else None, origins)
        context = f" (as {algorithm} runs it)" if stage == "resolve" or path is None else ""
        fail(path or where, f"{error}{context}")
    _VALID.add(cache_key)

"""How a planned job is rendered: interpreter, `--set` overrides, seed chunks, runtimes."""

from __future__ import annotations

import json
import math
import re
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import fail


def default_python() -> str:
    """The interpreter of the environment running Snakemake, named stably.

    `<prefix>/bin/python` rather than sys.executable: `.venv/bin/snakemake` runs `.venv/bin/python3`
    and `python -m snakemake` runs `.venv/bin/python`; as a rule parameter, the two spellings would
    make Snakemake rerun every finished job after switching entry points.
    """
    candidate = Path(sys.prefix) / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def per_algorithm(value: Any, algorithm: str, path: str) -> Any:
    """Resolve a setting given either as one value or as {default: x, <Algorithm>: y}."""
    if isinstance(value, dict):
        if algorithm in value:
            return value[algorithm]
        if "default" in value:
            return value["default"]
        fail(path, f"no entry for '{algorithm}' and no 'default'")
    return value


def flatten_overrides(overrides: dict[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """Turn nested override mappings into the CLI's dotted `--set` keys.

    `{init: {momentum: 0.6}}` and `{"init.momentum": 0.6}` mean the same thing; an empty mapping
    is kept as a value, so the run-config check reports it at its own key.
    """
    flat: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_overrides(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def set_words(overrides: dict[str, Any]) -> list[str]:
    """The `key=value` words of `--set`, values as JSON (valid YAML, which the CLI parses)."""
    return [f"{key}={json.dumps(value)}" for key, value in overrides.items()]


def set_arguments(overrides: dict[str, Any]) -> str:
    """Render overrides as one shell-quoted `--set key=value ...` group.

    One `--set` followed by every pair: with the CLI's `nargs="*"`, a repeated `--set` would
    keep only its last group.
    """
    if not overrides:
        return ""
    return "--set " + " ".join(shlex.quote(word) for word in set_words(overrides))


def seed_chunks(n_seeds: int, chunk_size: int) -> dict[str, str]:
    """Split seeds 0..n_seeds-1 into consecutive chunks, named like `seeds000-019`.

    The width grows with the largest seed, so names sort in seed order for any population.
    """
    width = max(3, len(str(n_seeds - 1)))
    chunks = {}
    for start in range(0, n_seeds, chunk_size):
        stop = min(start + chunk_size, n_seeds) - 1
        chunks[f"seeds{start:0{width}d}-{stop:0{width}d}"] = f"{start}-{stop}"
    return chunks


def chunk_runtime(job: dict[str, Any], seeds: str) -> int:
    """Minutes one chunk may take: overhead + per-seed minutes x the seeds of *this* chunk."""
    first, last = (int(part) for part in seeds.split("-"))
    return int(math.ceil(job["runtime_overhead"] + job["runtime_per_seed"] * (last - first + 1)))


def alternation(names: Iterable[str]) -> str:
    """A regex matching exactly these names (or nothing), for wildcard constraints."""
    names = list(names)
    return "|".join(re.escape(name) for name in names) if names else "(?!x)x"

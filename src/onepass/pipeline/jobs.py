"""How a planned job is rendered: interpreter, `--set` overrides, seed chunks, runtimes."""

from __future__ import annotations

import json
import math
import shlex
import sys
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


def seed_range(seeds: str) -> tuple[int, int]:
    """First and last seed of a chunk's ``"first-last"`` range (the values of :func:`seed_chunks`)."""
    first, last = (int(part) for part in seeds.split("-"))
    return first, last


def chunk_runtime(job: dict[str, Any], seeds: str) -> int:
    """Minutes one chunk may take: overhead + per-seed minutes x the seeds of *this* chunk."""
    first, last = seed_range(seeds)
    return int(math.ceil(job["runtime_overhead"] + job["runtime_per_seed"] * (last - first + 1)))


def comparison_resources(settings: dict[str, Any], catalog: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Threads, memory and minutes of the hypergradient comparison job (rules/figures.smk).

    The study differentiates the first window of every (T, i <= T) cell exactly, as DiffThroughOpt
    does, so it takes that algorithm's catalog memory and per-seed minutes, the latter scaled to the
    T weight steps of each cell's window (a seed of the catalog runs T0 x H0 steps). A dataset given
    as a YAML path rather than a catalog id gets the catalog's UCI-sized defaults below.
    """
    entry = catalog.get(str(settings["dataset_config"]))
    if entry is None:
        return {"threads": 1, "mem_mb": 2000, "runtime": 60}
    where = f"catalog.{settings['dataset_config']}"
    lookbacks = [int(i) for i in settings["lookbacks"]]
    steps = sum(int(t) for t in settings["update_interval"] for i in lookbacks if i <= int(t))
    full_run = float(entry["update_interval"]) * float(entry["hyperparameter_steps"])
    per_seed = float(per_algorithm(entry["runtime_per_seed"], "DiffThroughOpt", f"{where}.runtime_per_seed"))
    minutes = entry["runtime_overhead"] + per_seed * len(settings["seeds"]) * steps / full_run
    return {
        "threads": int(entry["threads"]),
        "mem_mb": int(per_algorithm(entry["mem_mb"], "DiffThroughOpt", f"{where}.mem_mb")),
        "runtime": int(math.ceil(minutes)),
    }

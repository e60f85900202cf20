"""Parse-time checks of the pipeline config; every error names the offending key path.

They run before the JSON schema (workflow/schemas/config.schema.yaml) so that the common mistakes
get a precise message; they only assume the shapes they check and leave the rest to the schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from onepass.algorithms import ALGORITHMS

from .errors import fail
from .grid import expand_names_only
from .plan import TRAIN_KIND


def load_catalog(path: Path, shown: str | None = None) -> dict[str, dict[str, Any]]:
    """Read the dataset catalog (config/datasets.yaml): `datasets` entries merged over `defaults`.

    `shown` is the path as the user gave it (errors quote that, not the resolved one).
    """
    shown = shown or str(path)
    if not path.is_file():
        fail("catalog", f"catalog file '{shown}' does not exist")
    with path.open() as handle:
        raw = yaml.safe_load(handle) or {}
    if not isinstance(raw.get("datasets"), dict) or not raw["datasets"]:
        fail("catalog", f"'{shown}' has no 'datasets' mapping")
    defaults = raw.get("defaults") or {}
    return {name: {**defaults, **(entry or {})} for name, entry in raw["datasets"].items()}


def _check_counts(experiment: dict[str, Any], base: str, algorithms: list[str]) -> None:
    """`seeds` and `chunk_size`: positive integers, globally or per algorithm of the experiment."""
    for key in ("seeds", "chunk_size"):
        value = experiment.get(key)
        if value is None:
            continue
        entries = value.items() if isinstance(value, dict) else [(None, value)]
        for algorithm, count in entries:
            where = f"{base}.{key}" if algorithm is None else f"{base}.{key}.{algorithm}"
            if algorithm not in (None, "default") and algorithm not in algorithms:
                fail(where, f"'{algorithm}' is not one of this experiment's algorithms")
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                fail(where, f"must be a positive integer, got {count!r}")
    if isinstance(experiment["seeds"], dict) and "default" not in experiment["seeds"]:
        missing = [alg for alg in algorithms if alg not in experiment["seeds"]]
        if missing:
            fail(f"{base}.seeds", f"no seed count for {', '.join(missing)} and no 'default'")


def _check_training(name: str, experiment: dict[str, Any], catalog: dict[str, Any]) -> None:
    """The checks of one training experiment."""
    base = f"experiments.{name}"
    for key in ("dataset", "algorithms", "seeds"):
        if key not in experiment:
            fail(f"{base}.{key}", "missing (required for training experiments)")
    dataset = experiment["dataset"]
    if dataset not in catalog:
        fail(f"{base}.dataset", f"unknown dataset '{dataset}'; known: {', '.join(catalog)}")
    algorithms = experiment["algorithms"]
    if not isinstance(algorithms, list) or not algorithms:
        fail(f"{base}.algorithms", "must be a non-empty list of algorithm names")
    for index, algorithm in enumerate(algorithms):
        if algorithm not in ALGORITHMS:
            fail(f"{base}.algorithms[{index}]", f"unknown algorithm '{algorithm}'; allowed: {', '.join(ALGORITHMS)}")
    if len(set(algorithms)) != len(algorithms):
        fail(f"{base}.algorithms", "lists an algorithm twice")
    _check_counts(experiment, base, algorithms)
    for key in ("overrides", "algorithm_overrides", "grid", "grid_where", "grid_derived"):
        if experiment.get(key) is not None and not isinstance(experiment[key], dict):
            fail(f"{base}.{key}", f"must be a mapping, got {experiment[key]!r}")
    for key in ("algorithm_overrides", "grid_where"):
        for algorithm in experiment.get(key) or {}:
            if algorithm not in algorithms:
                fail(f"{base}.{key}.{algorithm}", "is not one of this experiment's algorithms")
    for key, values in (experiment.get("grid") or {}).items():
        if not isinstance(values, list) or not values:
            fail(f"{base}.grid.{key}", "must be a non-empty list of values")


def check_config(cfg: dict[str, Any], catalog: dict[str, Any]) -> None:
    """Semantic checks the JSON schema cannot express; each error names the offending key path."""
    experiments = cfg.get("experiments")
    if not isinstance(experiments, dict):
        fail("experiments", "missing or not a mapping of experiment name -> settings")
    for name, experiment in experiments.items():
        if not isinstance(experiment, dict):
            fail(f"experiments.{name}", "must be a mapping (dataset, algorithms, seeds, ...)")
        if experiment.get("kind", TRAIN_KIND) == TRAIN_KIND:
            _check_training(name, experiment, catalog)
    known = set(experiments) | set(expand_names_only(experiments))
    for section in ("figures", "tables"):
        for target, spec in (cfg.get(section) or {}).items():
            listed = spec.get("experiments") if isinstance(spec, dict) else None
            for index, experiment in enumerate(listed if isinstance(listed, list) else []):
                if experiment not in known:
                    fail(
                        f"{section}.{target}.experiments[{index}]",
                        f"unknown experiment '{experiment}'; declared: {', '.join(sorted(experiments))}",
                    )


def schema_error_message(error: Exception) -> str:
    """Turn Snakemake's wrapped jsonschema error into `config: <key path>: <message>`."""
    # snakemake.utils.validate raises WorkflowError while handling jsonschema's ValidationError,
    # which stays reachable as the implicit exception context.
    cause = error.__cause__ or error.__context__
    if not hasattr(cause, "absolute_path"):
        return f"config: {error}"
    path = ""
    for part in cause.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return f"config: {path or '<top level>'}: {cause.message}"

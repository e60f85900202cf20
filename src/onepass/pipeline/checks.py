"""Parse-time checks of the pipeline config; every error names the offending key path.

They run before the JSON schema (workflow/schemas/config.schema.yaml) so that the common mistakes
get a precise message; they only assume the shapes they check and leave the rest to the schema.

The config *files* are checked too (:func:`check_config_files`): YAML loaders, Snakemake's included,
keep the last of two equal keys, so a second experiment with the name of an earlier one would
silently replace it. The files are re-read only to find such keys, with both line numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from onepass.training.algorithms import ALGORITHMS
from onepass.training.seeds import MAX_SEEDS
from onepass.yaml_files import DuplicateKeyLoader

from .errors import fail
from .expressions import parse_expression
from .plan import TRAIN_KIND, expand_names_only, grid_cells


def load_schema(path: Path) -> dict[str, Any]:
    """The config JSON schema (workflow/schemas/config.schema.yaml), whose rules the checks reuse."""
    with path.open() as handle:
        return yaml.safe_load(handle)


def _check_top_level(cfg: dict[str, Any], schema: dict[str, Any]) -> None:
    """Unknown top-level keys (typos such as `experimnts`), by the schema's own key list.

    Checked before everything else: a misspelt `experiments` would otherwise be reported as
    missing instead of misspelt.
    """
    allowed = list(schema.get("properties") or {})
    patterns = list(schema.get("patternProperties") or {})
    if schema.get("additionalProperties", True) is not False:
        return
    for key in cfg:
        if key not in allowed and not any(re.search(pattern, str(key)) for pattern in patterns):
            extra = f" (and keys matching {', '.join(patterns)})" if patterns else ""
            fail(str(key), f"unknown top-level key; allowed: {', '.join(sorted(allowed))}{extra}")


def _name_rule(schema: dict[str, Any]) -> tuple[re.Pattern[str] | None, str]:
    """The schema's rule for experiment names (propertyNames of `experiments`) and its wording."""
    rule = ((schema.get("properties") or {}).get("experiments") or {}).get("propertyNames") or {}
    if "pattern" not in rule:
        return None, ""
    return re.compile(rule["pattern"]), " ".join(str(rule.get("description", rule["pattern"])).split())


def _check_names(experiments: dict[str, Any], schema: dict[str, Any]) -> None:
    """Experiment names follow the schema's rule (they become file and folder names)."""
    pattern, rule = _name_rule(schema)
    for name in experiments:
        if pattern is not None and not pattern.fullmatch(str(name)):
            fail(f"experiments.{name}", f"invalid experiment name: {rule}")


def _check_cell_names(experiments: dict[str, Any], schema: dict[str, Any]) -> None:
    """The sub-experiment names grids make: valid, and unique among all experiments.

    Grid cells become experiments named <experiment>_<short><value>...; one that equals another
    experiment's name (or another grid's cell) would share its result files, so one of the two
    would silently be lost. Runs after the grid checks (non-empty lists, no repeated value).
    """
    pattern, rule = _name_rule(schema)
    owner = {name: f"the name of experiments.{name}" for name in experiments}
    for name, experiment in experiments.items():
        grid = experiment.get("grid")
        if experiment.get("kind", TRAIN_KIND) != TRAIN_KIND or not isinstance(grid, dict) or not grid:
            continue
        where = f"experiments.{name}.grid"
        for suffix, _ in grid_cells(grid):
            sub = f"{name}{suffix}"
            if pattern is not None and not pattern.fullmatch(sub):
                fail(where, f"makes the sub-experiment name '{sub}', which is not valid: {rule}")
            if sub in owner:
                fail(where, f"makes the sub-experiment '{sub}', which is also {owner[sub]}; rename one")
            owner[sub] = f"a cell of {where}"


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
            if key == "seeds" and count > MAX_SEEDS:
                fail(where, f"{count} seeds is more than the {MAX_SEEDS} one experiment may run")
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
    for key in ("grid_where", "grid_derived"):  # parsed even when disabled: never run, never trusted
        for entry, expression in (experiment.get(key) or {}).items():
            parse_expression(expression, f"{base}.{key}.{entry}")
    for key, values in (experiment.get("grid") or {}).items():
        if not isinstance(values, list) or not values:
            fail(f"{base}.grid.{key}", "must be a non-empty list of values")
        for index, value in enumerate(values):
            if value in values[:index]:
                fail(f"{base}.grid.{key}", f"repeats the value {value!r}; each value makes one sub-experiment")


def check_config(cfg: dict[str, Any], catalog: dict[str, Any], schema: dict[str, Any] | None = None) -> None:
    """Semantic checks the JSON schema cannot express; each error names the offending key path.

    With the `schema`, its top-level keys and experiment-name rule are checked first (the schema
    holds those rules; they come first so a misspelt key is not reported as something else).
    """
    schema = schema or {}
    _check_top_level(cfg, schema)
    experiments = cfg.get("experiments")
    if not isinstance(experiments, dict):
        fail("experiments", "missing or not a mapping of experiment name -> settings")
    for name, experiment in experiments.items():
        if not isinstance(experiment, dict):
            fail(f"experiments.{name}", "must be a mapping (dataset, algorithms, seeds, ...)")
    _check_names(experiments, schema)
    for name, experiment in experiments.items():
        if experiment.get("kind", TRAIN_KIND) == TRAIN_KIND:
            _check_training(name, experiment, catalog)
    _check_cell_names(experiments, schema)
    known = set(experiments) | set(expand_names_only(experiments))
    _check_output_names(cfg, schema)
    for section in ("figures", "tables"):
        for target, spec in (cfg.get(section) or {}).items():
            for key in ("experiments", "bayesopt"):
                listed = spec.get(key) if isinstance(spec, dict) else None
                for index, experiment in enumerate(listed if isinstance(listed, list) else []):
                    where = f"{section}.{target}.{key}[{index}]"
                    if experiment not in known:
                        fail(where, f"unknown experiment '{experiment}'; declared: {', '.join(sorted(experiments))}")
                    _check_enabled(experiments, experiment, where, section)


def _check_output_names(cfg: dict[str, Any], schema: dict[str, Any]) -> None:
    """Figure and table names (also a ray experiment's `table`/`figure`) become file names under
    results/, so they follow the experiment-name rule: no '/', no '..', nothing leaving results/."""
    pattern, rule = _name_rule(schema)
    if pattern is None:
        return
    names = [
        (f"{section}.{name}", section[:-1], name)
        for section in ("figures", "tables")
        for name in cfg.get(section) or {}
    ]
    for name, experiment in (cfg.get("experiments") or {}).items():
        for key in ("table", "figure"):
            value = experiment.get(key) if isinstance(experiment, dict) else None
            value = value.get("name") if isinstance(value, dict) else value
            if isinstance(value, str):
                names.append((f"experiments.{name}.{key}", key, value))
    for where, kind, name in names:
        if not pattern.fullmatch(str(name)):
            fail(where, f"invalid {kind} name '{name}': {rule}")


def _check_enabled(experiments: dict[str, Any], name: str, where: str, section: str) -> None:
    """A figure over a disabled experiment (or a table over a disabled training experiment) could
    only fail later, in Snakemake, with a multi-line missing-input error; say so here. Tables
    leave out a black-box baseline that is not available, and note it, by design."""
    entry = experiments.get(name)
    if entry is None:  # a grid cell: its experiment decides
        for parent, experiment in experiments.items():
            grid = experiment.get("grid")
            if isinstance(grid, dict) and grid and any(name == f"{parent}{sfx}" for sfx, _ in grid_cells(grid)):
                entry = experiment
                break
    if not isinstance(entry, dict) or entry.get("enabled", True):
        return
    if section == "tables" and entry.get("kind", TRAIN_KIND) != TRAIN_KIND:
        return
    fail(where, f"experiment '{name}' is disabled (enabled: false); enable it or remove it from this {section[:-1]}")


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


# ------------------------------------------------------------------ the config files themselves
def check_config_files(paths: Iterable[str | Path]) -> None:
    """Fail on the first key written twice in one mapping of any of these config files.

    Files that do not exist or are not YAML are left to Snakemake, which reports them itself.
    """
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
            duplicates = DuplicateKeyLoader(text).duplicate_keys()
        except (OSError, yaml.YAMLError):
            continue
        for key, first, again in duplicates:
            fail(key, f"written twice in {path} (lines {first} and {again}); YAML would keep only the last")

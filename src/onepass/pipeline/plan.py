"""The experiment plan: training experiments expanded into sub-experiments, algorithms and chunks.

A grid experiment (``grid: {key: [values]}``) becomes one sub-experiment per cell, named after the
cell (``Sensitivity_T3_i5``); ``grid_where`` / ``grid_derived`` expressions are evaluated per cell.
Computed once, eagerly, into plain dicts: the whole paper (config/paper.yaml) expands to
1,775 jobs and the rules' input functions are single dict look-ups, so a dry run stays within
seconds.
"""

from __future__ import annotations

from typing import Any

from .expressions import evaluate_expression
from .jobs import flatten_overrides, per_algorithm, seed_chunks, set_arguments
from .runconfig import check_run_config

# Experiments of other kinds are run by dedicated rules (analysis, BayesOpt, Ray Tune): the
# training expansion skips them.
TRAIN_KIND = "train"


def is_training(experiment: dict[str, Any]) -> bool:
    """True for experiments the training expansion runs (kind train, not disabled)."""
    return experiment.get("kind", TRAIN_KIND) == TRAIN_KIND and experiment.get("enabled", True)


def _algorithm_job(
    entry: dict[str, Any],
    experiment: dict[str, Any],
    algorithm: str,
    overrides: dict[str, Any],
    base: str,
    dataset: str,
) -> dict[str, Any]:
    """Chunks, `--set` arguments and resources of one algorithm of one sub-experiment."""
    n_seeds = per_algorithm(experiment["seeds"], algorithm, f"{base}.seeds")
    chunk_size = per_algorithm(experiment.get("chunk_size", entry["chunk_size"]), algorithm, f"{base}.chunk_size")
    steps = overrides.get("update_interval", entry["update_interval"]) * overrides.get(
        "hyperparameter_steps", entry["hyperparameter_steps"]
    )
    scale = steps / (entry["update_interval"] * entry["hyperparameter_steps"])
    per_seed = per_algorithm(entry["runtime_per_seed"], algorithm, f"catalog.{dataset}")
    return {
        "chunks": seed_chunks(n_seeds, chunk_size),
        "sets": set_arguments(overrides),
        "threads": int(entry["threads"]),
        "gpu": 1 if entry["gpu"] else 0,
        "mem_mb": int(per_algorithm(entry["mem_mb"], algorithm, f"catalog.{dataset}.mem_mb")),
        # minutes: overhead + per seed x seeds of the chunk (jobs.chunk_runtime)
        "runtime_overhead": entry["runtime_overhead"],
        "runtime_per_seed": per_seed * scale,
    }


def build_plan(
    cfg: dict[str, Any], catalog: dict[str, dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Expand training experiments into sub-experiments, algorithms and seed chunks.

    Returns (plan, names): plan[sub_experiment] = {"dataset", "parent", "cell", "algorithms":
    {algorithm: {"chunks": {chunk: "a-b"}, "sets": str, "threads", "gpu", "mem_mb",
    "runtime_overhead", "runtime_per_seed"}}};
    names[experiment] = its sub-experiment names (itself when it has no grid); a grid cell where
    `grid_where` leaves no algorithm is not a sub-experiment.
    Overrides merge in this order: experiment overrides, algorithm_overrides[algorithm], the grid
    cell's values, then `grid_derived` values computed from the cell. Each planned job's settings
    are validated as `onepass train` will validate them (errors name the key that set them).
    """
    plan: dict[str, dict[str, Any]] = {}
    names: dict[str, list[str]] = {}
    for name, experiment in (cfg.get("experiments") or {}).items():
        if not is_training(experiment):
            continue
        base = f"experiments.{name}"
        dataset = experiment["dataset"]
        entry = catalog[dataset]
        grid = experiment.get("grid") or {}
        cells = grid_cells(grid) if grid else [("", {})]
        names[name] = []
        common = flatten_overrides(experiment.get("overrides"))
        for suffix, cell in cells:
            derived = {
                key: grid_expression(expression, cell, f"{base}.grid_derived.{key}")
                for key, expression in (experiment.get("grid_derived") or {}).items()
            }
            algorithms = {}
            for algorithm in experiment["algorithms"]:
                condition = (experiment.get("grid_where") or {}).get(algorithm)
                if condition and not grid_expression(condition, cell, f"{base}.grid_where.{algorithm}"):
                    continue
                own = flatten_overrides((experiment.get("algorithm_overrides") or {}).get(algorithm))
                overrides = {**common, **own, **cell, **derived}
                origins = {
                    **{key: f"{base}.overrides.{key}" for key in common},
                    **{key: f"{base}.algorithm_overrides.{algorithm}.{key}" for key in own},
                    **{key: f"{base}.grid.{key}" for key in cell},
                    **{key: f"{base}.grid_derived.{key}" for key in derived},
                }
                check_run_config(dataset, algorithm, overrides, origins, base)
                algorithms[algorithm] = _algorithm_job(entry, experiment, algorithm, overrides, base, dataset)
            if not algorithms:  # every algorithm filtered out by grid_where: no such cell
                continue
            names[name].append(f"{name}{suffix}")
            plan[f"{name}{suffix}"] = {"dataset": dataset, "parent": name, "cell": cell, "algorithms": algorithms}
    return plan, names


def chunk_outputs(plan: dict[str, dict[str, Any]], sub_experiment: str) -> list[str]:
    """Every training output (parquet and json) of one sub-experiment, in canonical order."""
    files = []
    for algorithm, job in plan[sub_experiment]["algorithms"].items():
        for chunk in job["chunks"]:
            stem = f"results/runs/{sub_experiment}/{algorithm}/{chunk}"
            files += [f"{stem}.parquet", f"{stem}.json"]
    return files


# ------------------------------------------------------------------ grid experiments: cells, names, expressions
# Short names used when a grid cell becomes a sub-experiment name (Sensitivity_T3_i5).
GRID_SHORT_NAMES = {
    "update_interval": "T",
    "lookback": "i",
    "hyperparameter_steps": "H",
    "validation_proportion": "vp",
}


def grid_cells(grid: dict[str, list[Any]]) -> list[tuple[str, dict[str, Any]]]:
    """All cells of a grid {key: [values]} in row-major order, as (name suffix, {key: value}).

    Keys are taken in a fixed order (T, i, H, vp, then the others alphabetically), not in the
    YAML's, so a cell's name (Sensitivity_T3_i5) does not depend on how the config was written.
    """
    known = list(GRID_SHORT_NAMES)
    ordered = sorted(grid, key=lambda key: (known.index(key) if key in known else len(known), key))
    cells: list[tuple[str, dict[str, Any]]] = [("", {})]
    for key in ordered:
        values = grid[key]
        short = GRID_SHORT_NAMES.get(key, key.replace(".", "-"))
        cells = [(f"{suffix}_{short}{value}", {**cell, key: value}) for suffix, cell in cells for value in values]
    return cells


def grid_expression(expression: str, cell: dict[str, Any], path: str) -> Any:
    """Evaluate a `grid_where` filter ("lookback <= update_interval") or a `grid_derived`
    value ("4000 // update_interval") on one grid cell.

    Parsed and interpreted by onepass.pipeline.expressions (never `eval`: a config must not be able
    to run code); only the cell's values are visible, dotted keys with underscores instead of dots
    (model_batch_norm). A mistake is a config error naming `path`.
    """
    return evaluate_expression(expression, cell, path)


def expand_names_only(experiments: dict[str, Any]) -> list[str]:
    """Sub-experiment names of every grid experiment (so figures may name a single cell)."""
    names = []
    for name, experiment in experiments.items():
        if isinstance(experiment.get("grid"), dict):
            names.extend(f"{name}{suffix}" for suffix, _ in grid_cells(experiment["grid"]))
    return names

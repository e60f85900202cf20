"""Grid experiments: cells of a {key: [values]} grid, their names, and cell expressions."""

from __future__ import annotations

from typing import Any

from .expressions import evaluate_expression

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

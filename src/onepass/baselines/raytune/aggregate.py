"""Search outputs of one Ray experiment -> ``results/scalars/<exp>.parquet`` and ``<exp>_final.csv``.

Algorithm = ``<scheduler>_<algorithm>`` (:func:`.names.algorithm_name`), seed = trial index, step =
weight steps, for the ordinary ``AverageResults`` tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .names import algorithm_name

#: Reported metric -> tag in the aggregated tables.
RAY_TAGS = {
    "unnormalised_test_loss": "Unnormalised_Loss/Test",
    "test_loss": "Loss/Test",
    "validation_loss": "Loss/Validation",
}


def aggregate_ray(
    files: Sequence[str | Path], experiment: str, parquet_out: str | Path, final_out: str | Path
) -> dict[str, int]:
    """Search outputs of one Ray experiment -> ``results/scalars``-style long table and final CSV.

    Algorithm = ``<scheduler>_<algorithm>``, seed = trial index, step = weight steps. The final CSV
    has a row only for trials that trained the full ``max_steps`` (the paper's selection for the
    ASHA/PBT tables; ASHA stops most trials early by design), with ``best:<tag>`` columns.
    """
    import pyarrow as pa

    from ...records.aggregate import FINAL_COLUMNS, AggregationError, write_aggregate

    longs, finals = [], []
    for path in map(Path, files):
        long, summary = read_search(path)
        longs.append(long)
        finals.extend(final_rows(experiment, long, summary))
    if not longs:
        raise AggregationError(f"experiment {experiment}: no Ray search outputs given")
    long = pd.concat(longs, ignore_index=True)
    long = long.astype({"seed": "int32", "step": "int32", "value": "float64", "wall_time": "float64"})
    table = pa.Table.from_pandas(long, preserve_index=False)
    for name in ("algorithm", "tag"):
        table = table.set_column(table.schema.get_field_index(name), name, table.column(name).dictionary_encode())
    final = pd.DataFrame(finals, columns=None if finals else FINAL_COLUMNS)
    write_aggregate(table, final, parquet_out, final_out)
    return {"searches": len(longs), "finished_trials": len(final), "rows": table.num_rows}


def read_search(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One search's reports as long rows (algorithm, seed, step, tag, value, wall_time) and its JSON."""
    import json

    from ...records.aggregate import AggregationError, check_pair

    parquet, summary_path = path.with_suffix(".parquet"), path.with_suffix(".json")
    try:
        summary = json.loads(summary_path.read_text())
        rows = pd.read_parquet(parquet)
    except (OSError, ValueError) as error:
        raise AggregationError(f"{path}: cannot read Ray search output: {error}") from None
    check_pair(parquet, summary_path, summary)
    name = summary.get("name") or algorithm_name(summary["scheduler"], summary["algorithm"])
    long = rows.melt(
        id_vars=["trial", "iteration", "wall_time"], value_vars=list(RAY_TAGS), var_name="tag", value_name="value"
    )
    long["tag"] = long["tag"].map(RAY_TAGS)
    long = long.rename(columns={"trial": "seed", "iteration": "step"})
    long.insert(0, "algorithm", name)
    return long[["algorithm", "seed", "step", "tag", "value", "wall_time"]], {**summary, "name": name}


def final_rows(experiment: str, long: pd.DataFrame, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One final-CSV row per trial that trained the full ``max_steps``."""
    from ...records.aggregate import FINAL_COLUMNS

    best = long.groupby(["seed", "tag"])["value"].min()
    rows = []
    for trial in summary["trials"]:
        if not trial["reached_max_steps"]:
            continue
        final = trial["final"] or {}
        values = {RAY_TAGS[k]: (math.nan if final.get(k) is None else final[k]) for k in RAY_TAGS}
        ok = all(math.isfinite(v) for v in values.values())
        row = {column: None for column in FINAL_COLUMNS}
        cfg = trial.get("config") or {}
        row.update(
            experiment=experiment,
            algorithm=summary["name"],
            seed=trial["trial"],
            status="ok" if ok else "diverged",
            steps_completed=trial["iterations"],
            init_lr=10.0 ** cfg["lr_log10"] if "lr_log10" in cfg else None,
            init_weight_decay=10.0 ** cfg["weight_decay_log10"] if "weight_decay_log10" in cfg else None,
            init_momentum=cfg.get("momentum"),
            trial_id=trial["trial_id"],
            restored=bool(trial["restored_from"]),
        )
        row.update(values)
        for tag in RAY_TAGS.values():
            row[f"best:{tag}"] = best.get((trial["trial"], tag), math.nan)
        rows.append(row)
    return rows

"""Repetitions of one BayesOpt experiment -> ``results/scalars/<exp>.parquet`` and ``<exp>_final.csv``.

The long table has the usual columns (algorithm ``BayesOpt``, seed = repetition) plus ``trial``; the
final CSV has one row per trial plus a ``trial`` column, which
``onepass.analysis.loading.collapse_trials`` folds into one row per repetition.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .space import ALGORITHM

TABLE_COLUMNS = ["seed", "step", "tag", "value", "wall_time", "trial"]


def aggregate_bayesopt(
    files: Sequence[str | Path], experiment: str, parquet_out: str | Path, final_out: str | Path
) -> dict[str, int]:
    """Repetition files of one BayesOpt experiment -> the aggregated long table and final CSV.

    The long table has the usual columns (algorithm ``BayesOpt``, seed = repetition) plus ``trial``;
    the final CSV has one row per trial (usual columns, ``trial`` after ``seed``, one column per final
    tag, ``best:<tag>`` = minimum over that trial's steps).
    """
    import pyarrow as pa

    from ...records.aggregate import AggregationError, pair_chunks, write_aggregate

    pairs = pair_chunks(files)
    if not pairs:
        raise AggregationError(f"experiment {experiment}: no BayesOpt repetition files given")
    tables, rows, seen = [], [], set()
    for parquet, summary_path in pairs:
        frame, summary = read_repetition(parquet, summary_path)
        tables.append(frame)
        rows.extend(trial_rows(experiment, frame, summary, summary_path, seen))
    long = pd.concat(tables, ignore_index=True)
    long.insert(0, "algorithm", ALGORITHM)
    long = long.sort_values(["seed", "trial", "wall_time", "step"], kind="stable").reset_index(drop=True)
    table = pa.Table.from_pandas(long, preserve_index=False)
    for name in ("algorithm", "tag"):
        table = table.set_column(table.schema.get_field_index(name), name, table.column(name).dictionary_encode())
    final = final_table(rows)
    write_aggregate(table, final, parquet_out, final_out)
    return {"repetitions": len(pairs), "trials": len(final), "rows": table.num_rows}


def read_repetition(parquet: Path, summary_path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One repetition's table and JSON, checked against each other (sha256) and for the algorithm."""
    from ...records.aggregate import AggregationError, check_pair, read_summary

    summary = read_summary(summary_path)
    check_pair(parquet, summary_path, summary)
    if summary["algorithm"] != ALGORITHM:
        raise AggregationError(f"{summary_path}: algorithm is {summary['algorithm']!r}, not {ALGORITHM!r}")
    try:
        frame = pd.read_parquet(parquet, columns=TABLE_COLUMNS)
    except Exception as error:  # unreadable or not a BayesOpt table
        raise AggregationError(f"{parquet}: cannot read BayesOpt table: {error}") from None
    frame["tag"] = frame["tag"].astype(str)
    return frame, summary


def trial_rows(
    experiment: str, frame: pd.DataFrame, summary: dict[str, Any], summary_path: Path, seen: set
) -> list[dict[str, Any]]:
    """One final-CSV row per trial of a repetition (``seen``: (repetition, trial) keys so far, updated)."""
    from ...records.aggregate import AggregationError, is_best_tag, run_row

    best = frame[frame["tag"].map(is_best_tag)].groupby(["seed", "trial", "tag"])["value"].min()
    rows = []
    for run in summary["runs"]:
        key = (run["seed"], run["trial"])
        if key in seen:
            raise AggregationError(f"{summary_path}: repetition {key[0]} trial {key[1]} appears twice")
        seen.add(key)
        row = run_row(experiment, ALGORITHM, run)
        row = {**{k: row[k] for k in ("experiment", "algorithm", "seed")}, "trial": run["trial"], **row}
        for (seed, trial, tag), value in best.items():
            if seed == run["seed"] and trial == run["trial"]:
                row[f"best:{tag}"] = value
        rows.append(row)
    return rows


def final_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows sorted by (repetition, trial); the usual leading columns, then final tags, then ``best:`` tags."""
    from ...records.aggregate import FINAL_COLUMNS

    final = pd.DataFrame(rows).sort_values(["seed", "trial"], kind="stable")
    leading = FINAL_COLUMNS[:3] + ["trial"] + FINAL_COLUMNS[3:]
    tags = sorted(c for c in final.columns if c not in leading and not c.startswith("best:"))
    bests = sorted(c for c in final.columns if c.startswith("best:"))
    return final[leading + tags + bests]

"""Search outputs of one Ray experiment -> ``results/scalars/<exp>.parquet`` and ``<exp>_final.csv``.

Each search becomes a chunk of the one aggregation path (``onepass.records.aggregate``):
algorithm = ``<scheduler>_<algorithm>`` (:func:`.names.algorithm_name`), seed = trial index, step =
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
    """Search outputs (parquet and/or JSON) of one Ray experiment -> its long table and final CSV.

    Each search is a chunk (``search_chunk``) fed to the one aggregation path,
    ``onepass.records.aggregate.aggregate_chunks``: algorithm = ``<scheduler>_<algorithm>``, seed =
    trial index, step = weight steps. The final CSV has a row only for trials that trained the full
    ``max_steps`` (the paper's selection for the ASHA/PBT tables; ASHA stops most trials early by
    design), with ``best:<tag>`` columns.
    """
    from ...records.aggregate import AggregationError, aggregate_chunks
    from ...records.chunk_files import pair_chunks

    pairs = pair_chunks(files)
    if not pairs:
        raise AggregationError(f"experiment {experiment}: no Ray search outputs given")
    chunks = [search_chunk(experiment, parquet, summary_path) for parquet, summary_path in pairs]
    finished, rows = aggregate_chunks(experiment, chunks, parquet_out, final_out)
    return {"searches": len(chunks), "finished_trials": finished, "rows": rows}


def search_chunk(experiment: str, parquet: Path, summary_path: Path):
    """One search as a ``ChunkTable``: every report as chunk rows, one final row per finished trial."""
    import json

    import pyarrow as pa

    from ...records.aggregate import AggregationError, ChunkTable
    from ...records.chunk_files import check_pair, chunk_schema, with_algorithm
    from ...records.columns import CHUNK_COLUMNS

    try:
        summary = json.loads(summary_path.read_text())
        reports = pd.read_parquet(parquet)
    except (OSError, ValueError) as error:
        raise AggregationError(f"{parquet}: cannot read Ray search output: {error}") from None
    check_pair(parquet, summary_path, summary)
    name = summary.get("name") or algorithm_name(summary["scheduler"], summary["algorithm"])
    long = reports.melt(
        id_vars=["trial", "iteration", "wall_time"], value_vars=list(RAY_TAGS), var_name="tag", value_name="value"
    )
    long["tag"] = long["tag"].map(RAY_TAGS)
    long = long.rename(columns={"trial": "seed", "iteration": "step"})[list(CHUNK_COLUMNS)]
    table = with_algorithm(pa.Table.from_pandas(long, schema=chunk_schema(), preserve_index=False), name)
    return ChunkTable(summary_path, name, table, final_rows(experiment, name, summary))


def final_rows(experiment: str, name: str, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One final-CSV row per trial that trained the full ``max_steps`` (its ``best:`` columns come later)."""
    from ...records.columns import FINAL_COLUMNS

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
            algorithm=name,
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
        rows.append(row)
    return rows

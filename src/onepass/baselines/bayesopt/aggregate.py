"""Repetitions of one BayesOpt experiment -> ``results/scalars/<exp>.parquet`` and ``<exp>_final.csv``.

A repetition's files are a chunk with a `trial` key (seed = repetition, one run per trial), so
they go through the one aggregation path, ``onepass.records.aggregate.aggregate_chunks``: the long
table has the usual columns (algorithm ``BayesOpt``) plus ``trial``, the final CSV one row per
trial with ``trial`` after ``seed``, which ``onepass.analysis.loading.collapse_trials`` folds into
one row per repetition.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .space import ALGORITHM

#: Row order within a repetition's long table: trials in turn, each in the order it logged.
_ROW_ORDER = [("seed", "ascending"), ("trial", "ascending"), ("wall_time", "ascending"), ("step", "ascending")]


def aggregate_bayesopt(
    files: Sequence[str | Path], experiment: str, parquet_out: str | Path, final_out: str | Path
) -> dict[str, int]:
    """Repetition files (parquet and/or JSON) of one BayesOpt experiment -> its long table and final CSV."""
    from ...records.aggregate import AggregationError, aggregate_chunks, log_processors
    from ...records.chunk_files import pair_chunks, read_summary

    pairs = pair_chunks(files)
    if not pairs:
        raise AggregationError(f"experiment {experiment}: no BayesOpt repetition files given")
    summaries = [read_summary(summary_path) for _, summary_path in pairs]
    chunks = [
        repetition_chunk(experiment, parquet, path, summary)
        for (parquet, path), summary in zip(pairs, summaries, strict=True)
    ]
    first_seed = [min((row["seed"] for row in chunk.rows), default=0) for chunk in chunks]
    chunks = [chunks[k] for k in sorted(range(len(chunks)), key=lambda k: (first_seed[k], k))]
    trials, rows = aggregate_chunks(experiment, chunks, parquet_out, final_out)
    log_processors(experiment, summaries)
    return {"repetitions": len(pairs), "trials": trials, "rows": rows}


def repetition_chunk(experiment: str, parquet: Path, summary_path: Path, summary: dict):
    """One repetition as a ``ChunkTable``: its table (checked against its JSON, ``summary`` as read by
    ``records.chunk_files.read_summary``) and one row per trial."""
    from ...records.aggregate import AggregationError, ChunkTable, run_row
    from ...records.chunk_files import check_pair, read_chunk
    from ...records.columns import TRIAL

    check_pair(parquet, summary_path, summary)
    if summary["algorithm"] != ALGORITHM:
        raise AggregationError(f"{summary_path}: algorithm is {summary['algorithm']!r}, not {ALGORITHM!r}")
    table = read_chunk(parquet, ALGORITHM, has_trials=True).sort_by(_ROW_ORDER)
    rows = [{**run_row(experiment, ALGORITHM, run), TRIAL: run[TRIAL]} for run in summary["runs"]]
    return ChunkTable(summary_path, ALGORITHM, table, rows)

"""Aggregate chunks into one table per experiment (docs/CONTRACTS.md, "Aggregated outputs").

The authors' analysis parsed TensorBoard event files, which took tens of minutes per experiment.
Here every job already writes a columnar chunk (`results/runs/<exp>/<alg>/<chunk>.parquet` plus a
JSON summary), so aggregation is an Arrow concatenation and one grouped minimum: 10,000 runs of 400
logged points take seconds (`benchmarks/bench_aggregate.py`).

This is the one aggregation path of the repository. A training chunk is read here
(:func:`aggregate`); the black-box baselines turn their files into the same :class:`ChunkTable`
(a BayesOpt repetition with a `trial` key, a Ray search with one seed per trial) and call
:func:`aggregate_chunks`, so "best value over steps", the row order and the columns
(`onepass.records.columns`) are the same for all of them.

Outputs, both written under a temporary name and renamed when complete:

* `<experiment>.parquet`: `algorithm, seed, step, tag, value, wall_time` (then `trial` where runs
  have one), the chunks concatenated (`algorithm` and `tag` dictionary-encoded, which keeps 10^7
  rows small).
* `<experiment>_final.csv`: one row per run from the chunk summaries (status, timings, initial
  hyperparameters, final value of every tag) plus `best:<tag>`, the minimum over all logged steps
  of every loss/perplexity tag, which the paper's tables report as "best".

Runnable without Snakemake: `python -m onepass.records.aggregate --experiment NAME --parquet OUT.parquet
--final OUT_final.csv results/runs/NAME/*/*.parquet`.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..io_utils import write_all_atomically
from .chunk_files import (
    SCALARS_SHA256,
    AggregationError,
    check_job,
    check_pair,
    pair_chunks,
    read_chunk,
    read_summary,
)
from .columns import FINAL_COLUMNS, SCALARS_COLUMNS, TRIAL, best_column, final_leading, is_best_tag, run_keys
from .provenance import describe_processors, mixed_processors, runs_per_processor

LOG = logging.getLogger(__name__)

__all__ = [
    "FINAL_COLUMNS",
    "SCALARS_SHA256",
    "AggregationError",
    "ChunkTable",
    "aggregate",
    "aggregate_chunks",
    "is_best_tag",
    "pair_chunks",
    "run_row",
]


@dataclass(frozen=True)
class ChunkTable:
    """One chunk, ready to aggregate, whatever wrote it.

    Every chunk holds runs of one ``algorithm``; ``table`` has the columns of
    `columns.SCALARS_COLUMNS` (and `trial` where runs have one; see `chunk_files.read_chunk` and
    `with_algorithm`), ``rows`` one final-CSV row per run (`run_row` plus any columns of the
    chunk's own), ``source`` the file an error names.
    """

    source: Path
    algorithm: str
    table: pa.Table
    rows: list[dict[str, Any]] = field(default_factory=list)


def best_values(table: pa.Table, keys: Sequence[str]) -> pd.DataFrame:
    """Minimum over steps of every loss/perplexity tag, per run (``keys``): `best:<tag>` columns.

    Grouping every tag and then keeping the loss tags is several times faster than filtering
    10^7 rows first (the group table is small). Arrow's grouped `min` skips NaN, so a run that
    diverged late keeps its best finite value; it is NaN only when every logged value is NaN.
    """
    if table.num_rows == 0:
        return pd.DataFrame(columns=list(keys))
    grouped = table.group_by([*keys, "tag"]).aggregate([("value", "min")]).to_pandas()
    grouped["tag"] = grouped["tag"].astype(str)
    grouped = grouped[grouped["tag"].map(is_best_tag)]
    if grouped.empty:
        return pd.DataFrame(columns=list(keys))
    grouped["algorithm"] = grouped["algorithm"].astype(str)
    grouped["tag"] = grouped["tag"].map(best_column)
    wide = grouped.pivot(index=list(keys), columns="tag", values="value_min")
    wide.columns.name = None
    return wide[sorted(wide.columns)].reset_index()


def run_row(experiment: str, algorithm: str, run: dict) -> dict:
    """One row of the final CSV from one run's JSON summary (docs/CONTRACTS.md), final values per tag."""
    initial = run.get("initial_hyperparameters") or {}
    row = {
        "experiment": experiment,
        "algorithm": algorithm,
        "seed": run["seed"],
        "status": run.get("status"),
        "diverged_at_step": run.get("diverged_at_step"),
        "steps_completed": run.get("steps_completed"),
        "train_seconds": run.get("train_seconds"),
        "wall_seconds": run.get("wall_seconds"),
        "peak_memory_mb": run.get("peak_memory_mb"),
        "init_lr": initial.get("lr"),
        "init_weight_decay": initial.get("weight_decay"),
        "init_momentum": initial.get("momentum"),
        "init_lr_multiplier": initial.get("lr_multiplier"),
        "final_full_validation_loss": run.get("final_full_validation_loss"),
    }
    for tag, value in (run.get("final") or {}).items():
        row[tag] = math.nan if value is None else value
    return row


def final_frame(rows: Sequence[dict], has_trials: bool = False) -> pd.DataFrame:
    """The final CSV's rows: the leading columns (`columns.final_leading`), then the rest sorted."""
    leading = final_leading(has_trials)
    frame = pd.DataFrame(list(rows), columns=None if rows else leading)
    return frame[leading + sorted(column for column in frame.columns if column not in leading)]


def combine(
    experiment: str, chunks: Sequence[ChunkTable], algorithm_order: Sequence[str] | None = None
) -> tuple[pa.Table, pd.DataFrame]:
    """The experiment's long table and final rows from its chunks.

    Chunks and rows are ordered by algorithm (`algorithm_order`, the canonical order of
    docs/CONTRACTS.md; algorithms not in it follow in order of appearance), the final rows then by
    seed (and trial); the long table keeps each chunk's row order.
    """
    if not chunks:
        raise AggregationError(f"experiment {experiment}: no chunk files given")
    trials = {TRIAL in chunk.table.column_names for chunk in chunks}
    if len(trials) > 1:
        raise AggregationError(f"experiment {experiment}: some chunks have a '{TRIAL}' column and some do not")
    has_trials = trials.pop()
    keys = run_keys(has_trials)

    rank: dict[str, int] = {name: index for index, name in enumerate(algorithm_order or [])}
    for chunk in chunks:
        rank.setdefault(chunk.algorithm, len(rank))
    ordered = [chunks[k] for k in sorted(range(len(chunks)), key=lambda k: (rank[chunks[k].algorithm], k))]

    seen: set[tuple] = set()
    for chunk in ordered:
        for row in chunk.rows:
            key = tuple(row[k] for k in keys)
            if key in seen:
                raise AggregationError(f"{chunk.source}: run {key} appears in more than one chunk")
            seen.add(key)

    columns = [*SCALARS_COLUMNS, TRIAL] if has_trials else list(SCALARS_COLUMNS)
    table = pa.concat_tables([chunk.table for chunk in ordered]).unify_dictionaries().select(columns)
    final = final_frame([row for chunk in ordered for row in chunk.rows], has_trials)
    best = best_values(table, keys)
    if len(best):
        final = final.merge(best, on=keys, how="left", validate="one_to_one")
    position = final["algorithm"].map(rank)
    final = final.assign(_rank=position).sort_values(["_rank", *keys[1:]], kind="stable").drop(columns="_rank")
    return table, final


def aggregate_chunks(
    experiment: str,
    chunks: Sequence[ChunkTable],
    parquet_out: str | os.PathLike,
    final_out: str | os.PathLike,
    algorithm_order: Sequence[str] | None = None,
) -> tuple[int, int]:
    """Combine chunks (:func:`combine`) and write both outputs together; returns (runs, rows)."""
    table, final = combine(experiment, chunks, algorithm_order)
    write_aggregate(table, final, parquet_out, final_out)
    return len(final), table.num_rows


def write_aggregate(
    table: pa.Table, final: pd.DataFrame, parquet_out: str | os.PathLike, final_out: str | os.PathLike
) -> None:
    """Write an experiment's long table and final CSV together (both appear or neither does)."""
    # Dictionary-encode only the categorical columns: trying it on float columns costs time (about
    # a third of the write) and then falls back to plain encoding anyway.
    dictionary_columns = [name for name in ("algorithm", "tag") if name in table.column_names]
    write_all_atomically(
        {
            parquet_out: lambda temp: pq.write_table(table, temp, use_dictionary=dictionary_columns),
            final_out: lambda temp: final.to_csv(temp, index=False),
        }
    )


def aggregate(
    chunk_files: Iterable[str | os.PathLike],
    experiment: str,
    parquet_out: str | os.PathLike,
    final_out: str | os.PathLike,
    algorithm_order: Sequence[str] | None = None,
) -> dict[str, int]:
    """Aggregate training chunk files into the experiment's long table and final CSV.

    Each chunk's JSON must describe its parquet (sha256) and the job its path names; see
    :func:`combine` for the order of the outputs. The processors the chunks record are logged,
    with a warning when they differ (:mod:`onepass.records.provenance`). Returns counts for logging.
    """
    pairs = pair_chunks(chunk_files)
    if not pairs:
        raise AggregationError(f"experiment {experiment}: no chunk files given")
    summaries = [read_summary(summary) for _, summary in pairs]
    chunks = []
    for (parquet, summary_path), summary in zip(pairs, summaries, strict=True):
        check_pair(parquet, summary_path, summary)
        check_job(parquet, summary_path, summary, experiment)
        rows = [run_row(experiment, summary["algorithm"], run) for run in summary["runs"]]
        chunks.append(ChunkTable(summary_path, summary["algorithm"], read_chunk(parquet, summary["algorithm"]), rows))
    runs, rows = aggregate_chunks(experiment, chunks, parquet_out, final_out, algorithm_order)
    log_processors(experiment, summaries)
    return {"chunks": len(pairs), "runs": runs, "rows": rows}


def log_processors(experiment: str, summaries: Sequence[dict]) -> None:
    """Log which processors made the runs; warn when more than one did (or some do not say)."""
    processors = runs_per_processor(summaries)
    warning = mixed_processors(experiment, processors)
    if warning:
        LOG.warning(warning)
    else:
        LOG.info("experiment %s: runs made on %s", experiment, describe_processors(processors))


def add_aggregate_arguments(parser: argparse.ArgumentParser, inputs: str, row: str) -> None:
    """The arguments of every aggregation command line: experiment, the two outputs, the inputs."""
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--parquet", required=True, help="output long table")
    parser.add_argument("--final", required=True, help=f"output per-{row} CSV")
    parser.add_argument(inputs, nargs="+", help="input .parquet files (the .json beside each is read)")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: `python -m onepass.records.aggregate --experiment E --parquet P --final F CHUNK...`."""
    parser = argparse.ArgumentParser(prog="python -m onepass.records.aggregate", description=__doc__.split("\n")[0])
    add_aggregate_arguments(parser, "chunks", "run")
    args = parser.parse_args(argv)
    try:
        counts = aggregate(args.chunks, args.experiment, args.parquet, args.final)
    except AggregationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.experiment}: {counts['chunks']} chunks, {counts['runs']} runs, {counts['rows']} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Aggregate training chunks into one table per experiment (docs/CONTRACTS.md, "Aggregated outputs").

The authors' analysis parsed TensorBoard event files, which took tens of minutes per experiment.
Here every training job already writes a columnar chunk (`results/runs/<exp>/<alg>/<chunk>.parquet`
plus a JSON summary), so aggregation is an Arrow concatenation and one grouped minimum: 10,000 runs
of 400 logged points take seconds (`benchmarks/bench_aggregate.py`).

Outputs, both written under a temporary name and renamed when complete:

* `<experiment>.parquet`: `algorithm, seed, step, tag, value, wall_time`, the chunks concatenated
  (`algorithm` and `tag` dictionary-encoded, which keeps 10^7 rows small).
* `<experiment>_final.csv`: one row per run from the chunk JSONs (status, timings, initial
  hyperparameters, final value of every tag) plus `best:<tag>`, the minimum over all logged steps
  of every loss/perplexity tag, which the paper's tables report as "best".

Runnable without Snakemake: `python -m onepass.records.aggregate --experiment NAME --parquet OUT.parquet
--final OUT_final.csv results/runs/NAME/*/*.parquet`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..io_utils import sha256_file, write_all_atomically

#: Key of a chunk JSON holding the sha256 of the chunk's parquet (written by `onepass.training.chunk`).
SCALARS_SHA256 = "scalars_sha256"

#: Column types of a chunk table (docs/CONTRACTS.md, "Chunk outputs").
CHUNK_SCHEMA = pa.schema(
    [
        ("seed", pa.int32()),
        ("step", pa.int32()),
        ("tag", pa.dictionary(pa.int32(), pa.string())),
        ("value", pa.float64()),
        ("wall_time", pa.float64()),
    ]
)

#: Column order of the aggregated long table: the chunk columns after the algorithm.
SCALARS_COLUMNS = ["algorithm", *CHUNK_SCHEMA.names]

#: Leading columns of the final CSV, before one column per tag and the `best:` columns.
FINAL_COLUMNS = [
    "experiment",
    "algorithm",
    "seed",
    "status",
    "diverged_at_step",
    "steps_completed",
    "train_seconds",
    "wall_seconds",
    "peak_memory_mb",
    "init_lr",
    "init_weight_decay",
    "init_momentum",
    "init_lr_multiplier",
    "final_full_validation_loss",
]

#: A tag whose name (without `Last_`) starts with one of these is a loss and gets a `best:` column.
BEST_TAG_PREFIXES = ("Loss/", "Unnormalised_Loss/", "Perplexity/")


class AggregationError(RuntimeError):
    """A chunk is missing, unreadable or inconsistent; the message names the file."""


def is_best_tag(tag: str) -> bool:
    """Whether the tables want the minimum over steps of this tag (losses and perplexities)."""
    return tag.removeprefix("Last_").startswith(BEST_TAG_PREFIXES)


def pair_chunks(paths: Iterable[str | os.PathLike]) -> list[tuple[Path, Path]]:
    """Pair every chunk parquet with the JSON beside it, accepting either or both in `paths`.

    Snakemake hands the rule both files of every chunk; a user may pass only the parquets.
    The order of first appearance is kept, so the output order follows the caller's.
    """
    stems: dict[Path, None] = {}
    for path in map(Path, paths):
        if path.suffix not in (".parquet", ".json"):
            raise AggregationError(f"{path}: not a chunk file (.parquet or .json)")
        stems.setdefault(path.with_suffix(""), None)
    pairs = []
    for stem in stems:
        parquet, summary = stem.with_suffix(".parquet"), stem.with_suffix(".json")
        for path in (parquet, summary):
            if not path.is_file():
                raise AggregationError(f"{path}: missing (every chunk needs both .parquet and .json)")
        pairs.append((parquet, summary))
    return pairs


def read_summary(path: Path) -> dict:
    """Load a chunk JSON and check the fields aggregation relies on."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise AggregationError(f"{path}: cannot read chunk summary: not UTF-8 text") from None
    except (OSError, json.JSONDecodeError) as error:
        raise AggregationError(f"{path}: cannot read chunk summary: {error}") from error
    if not isinstance(summary, dict):
        raise AggregationError(f"{path}: chunk summary is a {type(summary).__name__}, not a mapping")
    for key in ("algorithm", "runs"):
        if key not in summary:
            raise AggregationError(f"{path}: chunk summary has no '{key}'")
    if not isinstance(summary["algorithm"], str):
        raise AggregationError(f"{path}: chunk summary's 'algorithm' is not a name: {summary['algorithm']!r}")
    if not isinstance(summary["runs"], list):
        raise AggregationError(f"{path}: chunk summary's 'runs' is not a list")
    for index, run in enumerate(summary["runs"]):
        if not isinstance(run, dict) or "seed" not in run:
            raise AggregationError(f"{path}: runs[{index}] is not a run summary with a 'seed'")
        seed = run["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise AggregationError(f"{path}: runs[{index}].seed is {seed!r}, not a non-negative integer")
    return summary


_CHUNK_NAME = re.compile(r"seeds(\d+)-(\d+)")


def check_job(parquet: Path, summary_path: Path, summary: dict, experiment: str) -> None:
    """Refuse a chunk that is not the job its path says it is.

    The sha256 only proves the two files belong together. In the pipeline's layout,
    ``runs/<experiment>/<algorithm>/seeds<a>-<b>``, the path also names the experiment, the
    algorithm and the seeds of the job; a summary claiming another (a file copied or renamed by
    hand, another experiment's chunk) would be aggregated under the wrong name.
    """
    recorded = summary.get("experiment")
    if recorded is not None and recorded != experiment:
        raise AggregationError(f"{summary_path}: a chunk of experiment '{recorded}', not of '{experiment}'")
    if parquet.parent.parent.name == experiment and summary["algorithm"] != parquet.parent.name:
        raise AggregationError(
            f"{summary_path}: a chunk of algorithm '{summary['algorithm']}' in the folder of {parquet.parent.name}"
        )
    match = _CHUNK_NAME.fullmatch(parquet.stem)
    seeds = sorted(run["seed"] for run in summary["runs"])
    if match and seeds != list(range(int(match.group(1)), int(match.group(2)) + 1)):
        raise AggregationError(f"{summary_path}: holds seeds {seeds}, but the chunk is {parquet.stem}")
    try:
        rows = pq.read_metadata(parquet).num_rows
    except (OSError, pa.ArrowException) as error:
        raise AggregationError(f"{parquet}: cannot read chunk table: {error}") from None
    if summary["runs"] and rows == 0:
        raise AggregationError(f"{parquet}: holds no rows, but its summary lists {len(summary['runs'])} runs")


def check_pair(parquet: Path, summary_path: Path, summary: dict) -> None:
    """Refuse a JSON summary that does not describe the parquet beside it.

    A chunk's two files are written together, and the summary records the sha256 of its table, so
    a pair mixed from two runs (an interrupted rerun, a hand copy) is caught here rather than
    silently aggregated.
    """
    recorded = summary.get(SCALARS_SHA256)
    if recorded is None:
        raise AggregationError(
            f"{summary_path}: no '{SCALARS_SHA256}' (not written by this version of onepass train); rerun the chunk"
        )
    actual = sha256_file(parquet)
    if actual != recorded:
        raise AggregationError(
            f"{summary_path}: describes another table than {parquet} (recorded sha256 {recorded[:12]}..., "
            f"actual {actual[:12]}...); the two files come from different runs: delete both and rerun the chunk"
        )


def read_chunk(path: Path, algorithm: str) -> pa.Table:
    """Read one chunk parquet, normalise its column types and prepend the `algorithm` column."""
    try:
        table = pq.read_table(path, columns=CHUNK_SCHEMA.names)
    except (OSError, pa.ArrowException) as error:
        raise AggregationError(f"{path}: cannot read chunk table: {error}") from error
    try:
        table = table.cast(CHUNK_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise AggregationError(f"{path}: unexpected column types {table.schema}: {error}") from error
    # A constant dictionary column costs 4 bytes a row and no string copies.
    algorithm_column = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(table.num_rows, dtype=np.int32)), pa.array([algorithm], pa.string())
    )
    return table.add_column(0, "algorithm", algorithm_column)


def best_values(table: pa.Table) -> pd.DataFrame:
    """Minimum over steps of every loss/perplexity tag, per (algorithm, seed): `best:<tag>` columns.

    Grouping every tag and then keeping the loss tags is several times faster than filtering
    10^7 rows first (the group table is small). Arrow's grouped `min` skips NaN, so a run that
    diverged late keeps its best finite value; it is NaN only when every logged value is NaN.
    """
    if table.num_rows == 0:
        return pd.DataFrame(columns=["algorithm", "seed"])
    grouped = table.group_by(["algorithm", "seed", "tag"]).aggregate([("value", "min")]).to_pandas()
    grouped["tag"] = grouped["tag"].astype(str)
    grouped = grouped[grouped["tag"].map(is_best_tag)]
    if grouped.empty:
        return pd.DataFrame(columns=["algorithm", "seed"])
    grouped["algorithm"] = grouped["algorithm"].astype(str)
    grouped["tag"] = "best:" + grouped["tag"]
    wide = grouped.pivot(index=["algorithm", "seed"], columns="tag", values="value_min")
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


def final_rows(experiment: str, summaries: Sequence[dict]) -> pd.DataFrame:
    """One row per run from the chunk summaries (columns: FINAL_COLUMNS, then one per final tag)."""
    rows = []
    for summary in summaries:
        for run in summary["runs"]:
            rows.append(run_row(experiment, summary["algorithm"], run))
    frame = pd.DataFrame(rows, columns=None if rows else FINAL_COLUMNS)
    tag_columns = sorted(column for column in frame.columns if column not in FINAL_COLUMNS)
    return frame[FINAL_COLUMNS + tag_columns]


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
    """Aggregate chunk files into the experiment's long table and final CSV.

    `algorithm_order` (the canonical order of docs/CONTRACTS.md) sorts the rows of both outputs;
    algorithms not in it follow in order of appearance. Final CSV rows are sorted by seed within
    an algorithm; the long table keeps the chunks' order (Snakemake passes them in seed order).
    Returns counts for logging.
    """
    pairs = pair_chunks(chunk_files)
    if not pairs:
        raise AggregationError(f"experiment {experiment}: no chunk files given")
    summaries = [read_summary(summary) for _, summary in pairs]
    for (parquet, summary_path), summary in zip(pairs, summaries, strict=True):
        check_pair(parquet, summary_path, summary)
        check_job(parquet, summary_path, summary, experiment)
    order = {name: rank for rank, name in enumerate(algorithm_order or [])}
    ranked = sorted(range(len(pairs)), key=lambda k: (order.get(summaries[k]["algorithm"], len(order)), k))
    pairs = [pairs[k] for k in ranked]
    summaries = [summaries[k] for k in ranked]

    seen: set[tuple[str, int]] = set()
    for (_, summary_path), summary in zip(pairs, summaries, strict=True):
        for run in summary["runs"]:
            key = (summary["algorithm"], run["seed"])
            if key in seen:
                raise AggregationError(f"{summary_path}: run {key} appears in more than one chunk")
            seen.add(key)

    tables = [read_chunk(parquet, summary["algorithm"]) for (parquet, _), summary in zip(pairs, summaries, strict=True)]
    table = pa.concat_tables(tables).unify_dictionaries().select(SCALARS_COLUMNS)

    final = final_rows(experiment, summaries)
    best = best_values(table)
    if len(best):
        final = final.merge(best, on=["algorithm", "seed"], how="left", validate="one_to_one")
    # rows by algorithm (canonical order) then seed, whatever order the chunks came in
    rank = final["algorithm"].map(lambda name: order.get(name, len(order)))
    final = final.assign(_rank=rank).sort_values(["_rank", "seed"], kind="stable").drop(columns="_rank")

    write_aggregate(table, final, parquet_out, final_out)
    return {"chunks": len(pairs), "runs": len(final), "rows": table.num_rows}


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

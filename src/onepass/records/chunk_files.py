"""Reading and checking the files of one chunk (docs/CONTRACTS.md, "Chunk outputs").

A chunk is a parquet table and a JSON summary written together: a training job's
``seeds<a>-<b>``, a BayesOpt repetition, a Ray search. Whatever made it, aggregation first pairs the
two files, checks that the summary describes the table beside it (``scalars_sha256``) and, for a
training chunk, that the files are the job their path names; the errors name the file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..io_utils import sha256_file
from .columns import CHUNK_COLUMNS, CHUNK_TYPES, TRIAL

#: Key of a chunk JSON holding the sha256 of the chunk's parquet (written by `onepass.training.chunk`).
SCALARS_SHA256 = "scalars_sha256"


def chunk_schema(has_trials: bool = False) -> pa.Schema:
    """Arrow types of a chunk table (columns.CHUNK_COLUMNS, then `trial` where runs have one)."""
    types = {"int32": pa.int32(), "float64": pa.float64(), "string": pa.dictionary(pa.int32(), pa.string())}
    fields = [(name, types[CHUNK_TYPES[name]]) for name in CHUNK_COLUMNS]
    return pa.schema(fields + [(TRIAL, pa.int32())] if has_trials else fields)


class AggregationError(RuntimeError):
    """A chunk is missing, unreadable or inconsistent; the message names the file."""


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


def read_chunk(path: Path, algorithm: str, has_trials: bool = False) -> pa.Table:
    """Read one chunk parquet, normalise its column types and prepend the `algorithm` column."""
    schema = chunk_schema(has_trials)
    try:
        table = pq.read_table(path, columns=schema.names)
    except (OSError, pa.ArrowException) as error:
        raise AggregationError(f"{path}: cannot read chunk table: {error}") from error
    try:
        table = table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise AggregationError(f"{path}: unexpected column types {table.schema}: {error}") from error
    return with_algorithm(table, algorithm)


def with_algorithm(table: pa.Table, algorithm: str) -> pa.Table:
    """``table`` with a constant, dictionary-encoded `algorithm` column in front.

    A constant dictionary column costs 4 bytes a row and no string copies.
    """
    indices = pa.array(np.zeros(table.num_rows, dtype=np.int32))
    return table.add_column(0, "algorithm", pa.DictionaryArray.from_arrays(indices, pa.array([algorithm], pa.string())))

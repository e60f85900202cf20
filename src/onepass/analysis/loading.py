"""Read the aggregated scalars (docs/CONTRACTS.md "Aggregated outputs") with clear errors.

Figures and tables are built only from these two files per experiment:
``results/scalars/<exp>_final.csv`` (one row per run) and ``results/scalars/<exp>.parquet``
(long table ``algorithm, seed, step, tag, value, wall_time``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..io_utils import atomic_write, atomic_write_text
from .metrics import ERROR_METRIC

FINAL_REQUIRED = ("algorithm", "seed", "status")
SCALARS_REQUIRED = ("algorithm", "seed", "step", "tag", "value", "wall_time")


def experiment_of(path: str | os.PathLike[str]) -> str:
    """Experiment name from an aggregated file path (``<exp>_final.csv`` or ``<exp>.parquet``)."""
    name = Path(path).name
    for suffix in ("_final.csv", ".parquet", ".csv"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def read_final(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Load one ``_final.csv``; adds ``experiment`` if missing and ``Error/Test`` if accuracy exists."""
    try:
        df = pd.read_csv(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"aggregated final-value file not found: {path}") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: empty, not an aggregated _final.csv (no header line)") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text, not an aggregated _final.csv") from None
    except pd.errors.ParserError as error:
        raise ValueError(f"{path}: not a CSV table ({' '.join(str(error).split())[:160]})") from None
    missing = [c for c in FINAL_REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing} (see docs/CONTRACTS.md)")
    if "experiment" not in df.columns:
        df.insert(0, "experiment", experiment_of(path))
    else:  # a file copied or renamed from another experiment would otherwise plot as an empty figure
        recorded = sorted(set(df["experiment"].astype(str)))
        if recorded and recorded != [experiment_of(path)]:
            raise ValueError(
                f"{path}: holds runs of experiment(s) {recorded}, not {experiment_of(path)!r} "
                "(copied or renamed from another experiment? rebuild it with Snakemake)"
            )
    df["algorithm"] = df["algorithm"].astype(str)
    df["status"] = df["status"].astype(str)
    if "Accuracy/Test" in df.columns:
        df[ERROR_METRIC] = 1.0 - pd.to_numeric(df["Accuracy/Test"], errors="coerce")
    return collapse_trials(df)


#: A table CSV's formatted cells, read as the text the table prints ("70", not 70.0).
TEXT_COLUMNS = ("mean_text", "mean_err_text", "median_text", "median_err_text", "best_text")


def read_table_stats(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A table's statistics CSV, its formatted cells kept as the text the table prints."""
    return pd.read_csv(path, dtype={column: str for column in TEXT_COLUMNS})


def read_finals(paths: Iterable[str | os.PathLike[str]]) -> pd.DataFrame:
    """Concatenate several ``_final.csv`` files; an algorithm may come from one experiment only."""
    frames = [read_final(p) for p in paths]
    if not frames:
        raise ValueError("no _final.csv inputs given")
    df = pd.concat(frames, ignore_index=True)
    owners = df.groupby("algorithm")["experiment"].nunique()
    dup = owners[owners > 1]
    if len(dup):
        raise ValueError(
            f"algorithm(s) {list(dup.index)} appear in several experiments "
            f"({sorted(df['experiment'].unique())}); restrict them with the option 'algorithms'"
        )
    return df


def read_scalars(
    path: str | os.PathLike[str],
    tags: Sequence[str] | None = None,
    algorithms: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Load one aggregated parquet, reading only the requested tags/algorithms (large files)."""
    filters = []
    if tags is not None:
        filters.append(("tag", "in", list(tags)))
    if algorithms is not None:
        filters.append(("algorithm", "in", list(algorithms)))
    try:
        df = pd.read_parquet(path, filters=filters or None)
    except FileNotFoundError:
        raise FileNotFoundError(f"aggregated scalar file not found: {path}") from None
    except (OSError, ValueError, pa.ArrowException) as error:
        detail = " ".join(str(error).split())[:160]
        raise ValueError(f"{path}: not an aggregated scalar table ({detail})") from None
    missing = [c for c in SCALARS_REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing} (see docs/CONTRACTS.md)")
    df = df.copy()
    df["algorithm"] = df["algorithm"].astype(str)
    df["tag"] = df["tag"].astype(str)
    df["experiment"] = experiment_of(path)
    return df


def read_scalars_many(
    paths: Iterable[str | os.PathLike[str]],
    tags: Sequence[str] | None = None,
    algorithms: Sequence[str] | None = None,
) -> pd.DataFrame:
    frames = [read_scalars(p, tags, algorithms) for p in paths]
    if not frames:
        raise ValueError("no scalar parquet inputs given")
    return pd.concat(frames, ignore_index=True)


def collapse_trials(final: pd.DataFrame) -> pd.DataFrame:
    """BayesOpt-style results carry a ``trial`` column: fold each repetition into one run.

    A repetition (``seed``) is one "run" whose trials are concatenated in time; its value is
    the best test value seen over all its trials (an oracle selection by test loss, as in the
    paper's BayesOpt summaries; docs/FIDELITY.md).  Numeric loss columns take the minimum over
    trials, accuracies the maximum, times the sum; status is ``ok`` if any trial is ok.
    """
    if "trial" not in final.columns:
        return final
    rows = []
    for (_, _), g in final.groupby(["algorithm", "seed"], sort=False):
        row = g.iloc[0].copy()
        for col in g.columns:
            if col in ("experiment", "algorithm", "seed", "status", "trial"):
                continue
            values = pd.to_numeric(g[col], errors="coerce")
            if values.isna().all():
                continue
            if col in ("train_seconds", "wall_seconds", "steps_completed"):
                row[col] = values.sum()
            elif col.startswith("Accuracy"):
                row[col] = values.max()
            elif col == "peak_memory_mb":
                row[col] = values.max()
            elif col.startswith("init_") or col == "diverged_at_step":
                row[col] = values.iloc[0]
            else:
                row[col] = values.min()
        row["status"] = "ok" if (g["status"] == "ok").any() else "diverged"
        row["n_trials"] = len(g)
        rows.append(row)
    out = pd.DataFrame(rows).drop(columns=["trial"]).reset_index(drop=True)
    if "Accuracy/Test" in out.columns:
        out[ERROR_METRIC] = 1.0 - pd.to_numeric(out["Accuracy/Test"], errors="coerce")
    return out


def trajectories(
    scalars: pd.DataFrame, tag: str, algorithm: str, seeds: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Runs × steps matrix of one tag for one algorithm (NaN-padded), its steps and seeds.

    ``Error/Test`` is derived from ``Accuracy/Test``.
    """
    source = "Accuracy/Test" if tag == ERROR_METRIC else tag
    sub = scalars[(scalars["algorithm"] == algorithm) & (scalars["tag"] == source)]
    if seeds is not None:
        sub = sub[sub["seed"].isin(list(seeds))]
    if sub.empty:
        return np.empty((0, 0)), np.empty(0, dtype=int), []
    wide = sub.pivot_table(index="seed", columns="step", values="value", aggfunc="last", dropna=False)
    wide = wide.sort_index(axis=0).sort_index(axis=1)
    matrix = wide.to_numpy(dtype=float)
    if tag == ERROR_METRIC:
        matrix = 1.0 - matrix
    return matrix, wide.columns.to_numpy(dtype=int), [int(s) for s in wide.index]


def atomic_write_csv(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    atomic_write_text(path, df.to_csv(index=False))


def atomic_savefig(fig, path: str | os.PathLike[str]) -> None:
    """Save a matplotlib figure atomically, in the format its suffix names (PDF by default)."""
    path = Path(path)
    atomic_write(path, lambda temp: fig.savefig(temp, format=path.suffix.lstrip(".") or "pdf"))

"""Statistics behind every figure and table: bootstraps, divergence, Random (3-batched).

All randomness comes from explicitly seeded ``numpy.random.Generator`` objects so that a
figure, its CSV sidecar and the tables agree run for run (the authors redrew the 3-batched
grouping at every call; we fix the seed, see docs/FIDELITY.md).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

N_RESAMPLES = 1000
DEFAULT_SEED = 0
THREE_BATCHED = "Random_3Batched"
THREE_BATCHED_SOURCE = "Random_Validation"


def bootstrap_indices(n: int, n_resamples: int = N_RESAMPLES, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Resampling indices, shape (n_resamples, n): ``default_rng(seed).integers(0, n, (B, n))``.

    Kept as one documented call so tests can reproduce the exact draws.
    """
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_resamples, n))


def bootstrap_statistics(
    values: Sequence[float] | np.ndarray, n_resamples: int = N_RESAMPLES, seed: int = DEFAULT_SEED
) -> dict[str, float]:
    """Mean and median of ``values`` with bootstrap standard errors.

    ``values`` must already exclude diverged runs (non-finite values raise).  The point
    estimates are the sample mean/median; each error is the standard deviation (ddof=1, as
    ``torch.std`` in the authors' code) of that statistic over ``n_resamples`` resamples
    drawn by :func:`bootstrap_indices`.
    """
    x = np.asarray(values, dtype=float)
    if x.size and not np.all(np.isfinite(x)):
        raise ValueError("bootstrap_statistics expects finite values; filter diverged runs first")
    n = x.size
    if n == 0:
        return {"n": 0, "mean": np.nan, "mean_err": np.nan, "median": np.nan, "median_err": np.nan}
    samples = x[bootstrap_indices(n, n_resamples, seed)]
    means = samples.mean(axis=1)
    medians = np.median(samples, axis=1)
    ddof = 1 if n_resamples > 1 else 0
    if np.ptp(x) == 0:  # one run, or identical values: no spread (avoid round-off "errors" of 1e-15)
        return {"n": n, "mean": float(x[0]), "mean_err": 0.0, "median": float(x[0]), "median_err": 0.0}
    return {
        "n": n,
        "mean": float(x.mean()),
        "mean_err": float(means.std(ddof=ddof)),
        "median": float(np.median(x)),
        "median_err": float(medians.std(ddof=ddof)),
    }


def diverged_mask(final: pd.DataFrame, metric: str, threshold: float = np.inf) -> np.ndarray:
    """True for runs that diverged: status ``diverged``, non-finite final metric, or above threshold."""
    if metric not in final.columns:
        raise KeyError(f"metric column {metric!r} not in the final-value table (columns: {list(final.columns)})")
    value = pd.to_numeric(final[metric], errors="coerce").to_numpy(dtype=float)
    status = final["status"].astype(str).to_numpy() if "status" in final.columns else np.full(len(final), "ok")
    with np.errstate(invalid="ignore"):
        return (status == "diverged") | ~np.isfinite(value) | (value > threshold)


def validation_column(final: pd.DataFrame) -> str:
    """Selection criterion for 3-batching: final ``Loss/Validation``, else the full-validation loss."""
    for col in ("Loss/Validation", "final_full_validation_loss"):
        if col in final.columns and pd.to_numeric(final[col], errors="coerce").notna().any():
            return col
    raise KeyError(
        "Random (3-batched) needs a final validation loss ('Loss/Validation' or "
        "'final_full_validation_loss') for the Random_Validation runs"
    )


def random_3batched(runs: pd.DataFrame, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Derive "Random (3-batched)" rows from Random_Validation runs (one row per triple).

    The runs (sorted by seed) are shuffled with ``default_rng(seed).permutation`` and cut into
    consecutive triples; a remainder of fewer than three runs is dropped.  Within a triple,
    the candidates are the runs with status ``ok`` *and* a finite validation loss (the run and
    its validation loss are filtered together, unlike the authors' code); the candidate with the lowest
    final validation loss is kept (first in triple order on ties).  A triple without any
    candidate yields a diverged row with NaN values, so divergence stays counted.
    Added columns: ``members`` (the triple's seeds) and ``source_seed`` (the chosen one).
    """
    runs = runs.sort_values("seed").reset_index(drop=True)
    if runs.empty:
        return runs.assign(members=pd.Series(dtype=str), source_seed=pd.Series(dtype=float))
    vcol = validation_column(runs)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(runs))
    n_triples = len(runs) // 3
    val = pd.to_numeric(runs[vcol], errors="coerce").to_numpy(dtype=float)
    ok = runs["status"].astype(str).to_numpy() != "diverged"
    rows = []
    for t in range(n_triples):
        members = order[3 * t : 3 * t + 3]
        candidates = [m for m in members if ok[m] and np.isfinite(val[m])]
        member_seeds = ",".join(str(int(runs.at[m, "seed"])) for m in members)
        if candidates:
            best = min(candidates, key=lambda m: val[m])  # min keeps the first on ties
            row = runs.loc[best].copy()
            row["source_seed"] = int(runs.at[best, "seed"])
        else:
            row = runs.loc[members[0]].copy()
            for col in runs.columns:
                if col not in ("experiment", "algorithm", "seed") and pd.api.types.is_numeric_dtype(runs[col]):
                    row[col] = np.nan
            row["status"] = "diverged"
            row["source_seed"] = np.nan
        row["algorithm"] = THREE_BATCHED
        row["members"] = member_seeds
        rows.append(row)
    return pd.DataFrame(rows).reset_index(drop=True)


def with_random_3batched(final: pd.DataFrame, seed: int = DEFAULT_SEED, keep_source: bool = False) -> pd.DataFrame:
    """Append Random (3-batched) rows when Random_Validation runs exist; drop those unless asked."""
    source = final[final["algorithm"] == THREE_BATCHED_SOURCE]
    if source.empty:
        return final
    derived = random_3batched(source, seed)
    base = final if keep_source else final[final["algorithm"] != THREE_BATCHED_SOURCE]
    return pd.concat([base, derived], ignore_index=True)


def bootstrap_median_band(
    matrix: np.ndarray,
    n_resamples: int = N_RESAMPLES,
    seed: int = DEFAULT_SEED,
    interval: float = 95.0,
    chunk: int = 50,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column median over runs with a percentile bootstrap band of that median.

    ``matrix`` is runs × points (NaN allowed).  For each resample (indices from
    :func:`bootstrap_indices`) the nanmedian over the resampled runs is taken per point; the
    band is the central ``interval`` % of those medians (docs/FIDELITY.md: the authors took the
    median over resamples, which understated the band).  Resamples are processed in chunks
    to bound memory.
    """
    m = np.asarray(matrix, dtype=float)
    n, p = m.shape
    if n == 0:
        nan = np.full(p, np.nan)
        return nan, nan.copy(), nan.copy()
    idx = bootstrap_indices(n, n_resamples, seed)
    medians = np.empty((n_resamples, p))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        line = np.nanmedian(m, axis=0)
        median = np.median if not np.isnan(m).any() else np.nanmedian  # same result, much faster
        for start in range(0, n_resamples, chunk):
            block = m[idx[start : start + chunk]]  # (chunk, n, p)
            medians[start : start + chunk] = median(block, axis=1)
        lo_q = (100.0 - interval) / 2.0
        lo, hi = np.nanpercentile(medians, [lo_q, 100.0 - lo_q], axis=0)
    return line, lo, hi


def best_so_far(values: np.ndarray) -> np.ndarray:
    """Running minimum with NaN treated as +inf (a diverged point never improves the best)."""
    v = np.asarray(values, dtype=float)
    v = np.where(np.isnan(v), np.inf, v)
    return np.minimum.accumulate(v, axis=-1)


def step_interpolate(times: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Value of a step function (last value at or before each grid time; +inf before the first).

    Past the run's end the last value is held, as the authors did for wall-time envelopes.
    """
    t = np.asarray(times, dtype=float)
    v = np.asarray(values, dtype=float)
    pos = np.searchsorted(t, grid, side="right") - 1
    out = np.full(grid.shape, np.inf)
    valid = pos >= 0
    out[valid] = v[pos[valid]]
    return out

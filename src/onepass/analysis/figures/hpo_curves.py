"""Kind ``HPOCurves``: best test metric so far against elapsed wall time, median over runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import style
from ..loading import read_scalars_many
from ..metrics import ERROR_METRIC, metric_label
from ..stats import (
    DEFAULT_SEED,
    N_RESAMPLES,
    THREE_BATCHED_SOURCE,
    best_so_far,
    bootstrap_median_band,
    step_interpolate,
)
from .common import FigureContext, legend_below, legend_label, plain_log_ticks, pyplot


def _run_curves(scalars: pd.DataFrame, metric: str, algorithm: str, threshold: float):
    """(elapsed times, best-so-far values) per run (seed) of one algorithm."""
    source = "Accuracy/Test" if metric == ERROR_METRIC else metric
    sub = scalars[(scalars["algorithm"] == algorithm) & (scalars["tag"] == source)]
    curves = []
    sort_cols = [c for c in ("trial", "wall_time", "step") if c in sub.columns]
    for _, g in sub.groupby("seed", sort=True):
        g = g.sort_values(sort_cols)
        t = g["wall_time"].to_numpy(dtype=float)
        v = g["value"].to_numpy(dtype=float)
        if metric == ERROR_METRIC:
            v = 1.0 - v
        with np.errstate(invalid="ignore"):
            v = np.where(v > threshold, np.inf, v)
        curves.append((t - t[0], best_so_far(v)))
    return curves


def hpo_curves_figure(
    scalars: pd.DataFrame,
    metric: str,
    threshold: float = np.inf,
    n_resamples: int = N_RESAMPLES,
    seed: int = DEFAULT_SEED,
    n_points: int = 200,
    interval: float = 95.0,
    exclude: Sequence[str] = (THREE_BATCHED_SOURCE,),
) -> tuple[Any, pd.DataFrame]:
    """Best-so-far test metric against elapsed wall time, median over runs with a bootstrap band.

    Per run: NaN (and values above the divergence threshold) become +inf, then the running
    minimum; time is elapsed since the run's first logged point (a BayesOpt repetition's
    trials are concatenated).  All runs are evaluated on one log-spaced time grid as step
    functions held at their last value.  Selecting by *test* loss is an oracle, as in the paper (docs/FIDELITY.md).
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=style.SINGLE_COLUMN)
    algs = [a for a in style.order(scalars["algorithm"]) if a not in set(exclude)]
    curves = {a: _run_curves(scalars, metric, a, threshold) for a in algs}
    positive = [t[t > 0].min() for cs in curves.values() for t, _ in cs if np.any(t > 0)]
    ends = [t.max() for cs in curves.values() for t, _ in cs if len(t)]
    if not positive:
        raise ValueError("HPOCurves: no run has more than one logged time point")
    grid = np.geomspace(min(positive), max(ends), n_points)
    rows = []
    for alg in algs:
        if not curves[alg]:
            continue
        matrix = np.vstack([step_interpolate(t, v, grid) for t, v in curves[alg]])
        line, lo, hi = bootstrap_median_band(matrix, n_resamples, seed, interval)
        n_inf = int(np.sum(~np.isfinite(matrix[:, -1])))
        kw = style.line_kwargs(alg) | {"label": legend_label(alg, matrix.shape[0], n_inf)}
        finite = lambda a: np.where(np.isfinite(a), a, np.nan)  # noqa: E731
        ax.plot(grid, finite(line), **kw)
        ax.fill_between(grid, finite(lo), finite(hi), color=style.colour(alg), alpha=0.2, linewidth=0)
        for tt, m, a, b in zip(grid, line, lo, hi, strict=True):
            rows.append(
                {
                    "algorithm": alg,
                    "label": style.label(alg),
                    "time_s": tt,
                    "median": m,
                    "lo": a,
                    "hi": b,
                    "n_runs": matrix.shape[0],
                    "n_never_finite": n_inf,
                }
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_ticks(ax, "x")
    plain_log_ticks(ax, "y")
    ax.set_xlabel("Runtime (s)")
    ax.set_ylabel("Best " + metric_label(metric) + " so far")
    n_all = sum(len(c) for c in curves.values())
    n_never = int(sum(r["n_never_finite"] for r in {r["algorithm"]: r for r in rows}.values()))
    legend_below(ax, f"{n_never} of {n_all} runs never reached a finite value" if n_never else None)
    return fig, pd.DataFrame(rows)


def render(context: FigureContext) -> tuple[Any, pd.DataFrame]:
    """Options: ``metric``, ``bayesopt`` (wired by the rule), ``n_points`` (200), ``interval``, ``exclude``."""
    metric, threshold = context.metric_and_threshold()
    source = "Accuracy/Test" if metric == ERROR_METRIC else metric
    scalars = context.filtered(read_scalars_many(context.paths("scalars"), tags=[source]))
    if context.paths("bayesopt_scalars"):
        bo = read_scalars_many(context.paths("bayesopt_scalars"), tags=[source])
        scalars = pd.concat([scalars, bo.assign(algorithm="BayesOpt")], ignore_index=True)
    return hpo_curves_figure(
        scalars,
        metric,
        threshold,
        context.n_resamples,
        context.seed,
        int(context.opt("n_points", 200)),
        float(context.opt("interval", 95.0)),
        exclude=list(context.opt("exclude", [THREE_BATCHED_SOURCE])),
    )

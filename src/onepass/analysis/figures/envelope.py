"""Kind ``Envelope``: median test metric against weight-update step, with a bootstrap band."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import style
from ..loading import read_scalars_many, trajectories
from ..metrics import ERROR_METRIC, metric_label
from ..stats import DEFAULT_SEED, N_RESAMPLES, THREE_BATCHED, THREE_BATCHED_SOURCE, bootstrap_median_band
from .common import (
    FigureContext,
    Tally,
    divergence_text,
    legend_below,
    legend_label,
    plain_log_ticks,
    pyplot,
    runs_by_algorithm,
)


def _subsample(n_points: int, max_points: int) -> np.ndarray:
    if n_points <= max_points:
        return np.arange(n_points)
    return np.unique(np.round(np.linspace(0, n_points - 1, max_points)).astype(int))


def envelope_figure(
    final: pd.DataFrame,
    scalars: pd.DataFrame,
    metric: str,
    threshold: float = np.inf,
    n_resamples: int = N_RESAMPLES,
    seed: int = DEFAULT_SEED,
    max_points: int = 300,
    interval: float = 95.0,
) -> tuple[Any, pd.DataFrame]:
    """Median test metric against weight-update step with a bootstrap band of that median.

    Runs that diverged (by their final value) are excluded from the envelope and counted in
    the legend; Random (3-batched) uses the chosen Random_Validation trajectories.  At most
    ``max_points`` evenly spaced steps are kept (all of them for short runs).
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=style.SINGLE_COLUMN)
    rows = []
    tally = Tally()
    for alg, sub, div, n, n_div in runs_by_algorithm(final, metric, threshold, style.order(final["algorithm"]), tally):
        if alg == THREE_BATCHED:
            source, seeds = THREE_BATCHED_SOURCE, sub.loc[~div, "source_seed"].astype(int).tolist()
        else:
            source, seeds = alg, sub.loc[~div, "seed"].astype(int).tolist()
        matrix, steps, _ = trajectories(scalars, metric, source, seeds)
        kw = style.line_kwargs(alg) | {"label": legend_label(alg, n, n_div)}
        if matrix.size == 0:
            ax.plot([], [], **kw)  # no curve (every run diverged), but the legend still lists it
            continue
        keep = _subsample(len(steps), max_points)
        line, lo, hi = bootstrap_median_band(matrix[:, keep], n_resamples, seed, interval)
        ax.plot(steps[keep], line, **kw)
        ax.fill_between(steps[keep], lo, hi, color=style.colour(alg), alpha=0.2, linewidth=0)
        for s, m, a, b in zip(steps[keep], line, lo, hi, strict=True):
            rows.append(
                {
                    "algorithm": alg,
                    "label": style.label(alg),
                    "step": int(s),
                    "median": m,
                    "lo": a,
                    "hi": b,
                    "n_runs": n,
                    "n_diverged": n_div,
                    "n_used": matrix.shape[0],
                }
            )
    ax.set_yscale("log")
    plain_log_ticks(ax, "y")
    ax.set_xlabel("Network Weight Update Step")
    ax.set_ylabel(metric_label(metric))
    legend_below(ax, divergence_text(tally.runs, tally.diverged))
    return fig, pd.DataFrame(rows)


def render(context: FigureContext) -> tuple[Any, pd.DataFrame]:
    """Options: ``metric``, ``max_points`` (300), ``interval`` (95), ``seed``, ``n_resamples``."""
    metric, threshold = context.metric_and_threshold()
    final = context.load_final()
    source = "Accuracy/Test" if metric == ERROR_METRIC else metric
    scalars = read_scalars_many(context.paths("scalars"), tags=[source])
    return envelope_figure(
        final,
        scalars,
        metric,
        threshold,
        context.n_resamples,
        context.seed,
        int(context.opt("max_points", 300)),
        float(context.opt("interval", 95.0)),
    )

"""Kinds ``CDF`` and ``CDF_Error``: empirical CDF of the final metric (or test error) per algorithm."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import style
from ..metrics import default_metric, divergence_threshold, metric_label
from ..stats import diverged_mask
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


def cdf_figure(
    final: pd.DataFrame, metric: str, threshold: float = np.inf, log_x: bool = True
) -> tuple[Any, pd.DataFrame]:
    """Empirical CDF of the final metric per algorithm: y = k / N over all N runs.

    Diverged runs (non-finite or above ``threshold``) stay in N, so each curve stops below 1
    at the fraction of finite runs, as in the paper.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=style.SINGLE_COLUMN)
    rows = []
    tally = Tally()
    for alg, sub, div, n, n_div in runs_by_algorithm(final, metric, threshold, style.order(final["algorithm"]), tally):
        vals = np.sort(pd.to_numeric(sub[metric], errors="coerce").to_numpy(dtype=float)[~div])
        cdf = np.arange(1, len(vals) + 1) / n if n else np.empty(0)
        kw = style.line_kwargs(alg) | {"label": legend_label(alg, n, n_div)}
        if len(vals):
            ax.step(np.r_[vals[0], vals], np.r_[0.0, cdf], where="post", **kw)
        else:
            ax.plot([], [], **kw)  # no curve (every run diverged), but the legend still lists it
        points = list(zip(vals, cdf, strict=True)) or [(np.nan, np.nan)]  # one NaN row: all diverged
        for v, c in points:
            rows.append(
                {
                    "algorithm": alg,
                    "label": style.label(alg),
                    "value": v,
                    "cdf": c,
                    "n_runs": n,
                    "n_diverged": n_div,
                }
            )
    if log_x:
        ax.set_xscale("log")
        plain_log_ticks(ax, "x")
    else:
        ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Final " + metric_label(metric))
    ax.set_ylabel("Cumulative fraction of runs")
    legend_below(ax, divergence_text(tally.runs, tally.diverged))
    return fig, pd.DataFrame(rows)


def render_cdf(context: FigureContext) -> tuple[Any, pd.DataFrame]:
    """Kind ``CDF``: the final metric (option ``metric``, else the dataset's), log x unless ``log_x: false``."""
    dataset, metric = context.metric()
    threshold = divergence_threshold(dataset, metric)
    return cdf_figure(context.load_final(), metric, threshold, log_x=bool(context.opt("log_x", True)))


def render_cdf_error(context: FigureContext) -> tuple[Any, pd.DataFrame]:
    """Kind ``CDF_Error``: the final test error; a run whose loss diverged counts as diverged here too."""
    dataset, metric = context.metric(error=True)
    loss_metric = default_metric(dataset)
    final = context.load_final()
    if loss_metric in final.columns:
        bad = diverged_mask(final, loss_metric, divergence_threshold(dataset, loss_metric))
        final = final.assign(**{metric: np.where(bad, np.nan, final[metric])})
    return cdf_figure(final, metric, np.inf, log_x=bool(context.opt("log_x", False)))

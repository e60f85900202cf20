"""Kind ``Runtime``: violins of per-run training time per algorithm."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import style
from ..loading import read_finals
from ..stats import THREE_BATCHED, THREE_BATCHED_SOURCE
from .common import FigureContext, Tally, divergence_note, pyplot, runs_by_algorithm


def runtime_figure(
    final: pd.DataFrame,
    metric: str,
    threshold: float = np.inf,
    time_column: str = "train_seconds",
    exclude: Sequence[str] = (THREE_BATCHED_SOURCE, THREE_BATCHED),
) -> tuple[Any, pd.DataFrame]:
    """Violins of per-run time per algorithm (runs with a finite final metric), mean 'o', median 'x'."""
    if time_column not in final.columns:
        raise KeyError(f"Runtime: column {time_column!r} not in the final-value table")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=style.SINGLE_COLUMN)
    algs = [a for a in style.order(final["algorithm"]) if a not in set(exclude)]
    rows, ticks = [], []
    tally = Tally()
    for k, (alg, sub, div, n, n_div) in enumerate(runs_by_algorithm(final, metric, threshold, algs, tally)):
        t = pd.to_numeric(sub.loc[~div, time_column], errors="coerce").to_numpy(dtype=float)
        t = t[np.isfinite(t)]
        ticks.append(style.label(alg) + (f" ({n_div} div.)" if n_div else ""))
        if len(t) >= 2 and np.ptp(t) > 0:
            parts = ax.violinplot(t, positions=[k], showextrema=False, widths=0.8)
            for body in parts["bodies"]:
                body.set_facecolor(style.colour(alg))
                body.set_edgecolor("black")
                body.set_linewidth(0.5)
                body.set_alpha(0.6)
        if len(t):
            ax.scatter([k], [t.mean()], marker="o", s=10, color="black", zorder=3)
            ax.scatter([k], [np.median(t)], marker="x", s=14, color="black", zorder=3)
        rows.append(
            {
                "algorithm": alg,
                "label": style.label(alg),
                "n_runs": n,
                "n_diverged": n_div,
                "n_used": len(t),
                "mean": t.mean() if len(t) else np.nan,
                "median": np.median(t) if len(t) else np.nan,
                "min": t.min() if len(t) else np.nan,
                "max": t.max() if len(t) else np.nan,
            }
        )
    ax.set_xticks(range(len(algs)))
    ax.set_xticklabels(ticks, rotation=45, ha="right")
    ax.set_ylabel("Training time (s)" if time_column == "train_seconds" else "Wall time (s)")
    divergence_note(fig, tally.runs, tally.diverged)
    return fig, pd.DataFrame(rows)


def render(context: FigureContext) -> tuple[Any, pd.DataFrame]:
    """Options: ``metric``, ``time_column`` (train_seconds), ``exclude``, ``algorithms`` (no Random (3-batched))."""
    metric, threshold = context.metric_and_threshold()
    final = context.filtered(read_finals(context.paths("final")))
    return runtime_figure(
        final,
        metric,
        threshold,
        str(context.opt("time_column", "train_seconds")),
        exclude=list(context.opt("exclude", [THREE_BATCHED_SOURCE])),
    )

"""The ASHA / PBT figure (``HPOCurves_Ray``): best test loss so far against wall time.

Unlike :func:`onepass.analysis.figures.hpo_curves_figure`, which takes a median over independent
runs, a Ray search is *one* optimisation whose trials run side by side. Following the authors'
``ray_best_evolution``, every report of every trial of one search is pooled,
sorted by wall time, timed from the search's first report, and reduced to the cumulative minimum of
the test metric (default ``Unnormalised_Loss/Test``). Selecting by *test* loss is an oracle (as in the
paper; docs/FIDELITY.md); the figure's y label says so. The ASHA/PBT tables need no new kind: the aggregated
``<exp>_final.csv`` feeds the ordinary ``AverageResults`` table (see :mod:`onepass.baselines.raytune`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..baselines.raytune.names import SEARCH_NAMES
from . import style
from .figures.common import pyplot
from .loading import atomic_savefig, atomic_write_csv, read_scalars_many
from .metrics import metric_label
from .stats import best_so_far

RAY_ALGORITHMS = SEARCH_NAMES  # ASHA_Random, ASHA_Ours_LR_Momentum, PBT_Random, PBT_Ours_LR_Momentum


def pooled_best_curves(scalars: pd.DataFrame, metric: str = "Unnormalised_Loss/Test") -> pd.DataFrame:
    """Per search (algorithm): (elapsed seconds, best value so far, trials reported so far).

    Returns one row per report: ``algorithm, time_s, value, best, n_trials``; non-finite values never
    improve the best (NaN -> inf).
    """
    sub = scalars[scalars["tag"] == metric]
    if sub.empty:
        raise ValueError(f"HPOCurves_Ray: no {metric!r} values in the Ray results")
    frames = []
    for algorithm in style.order(sub["algorithm"].unique()):
        g = sub[sub["algorithm"] == algorithm].sort_values(["wall_time", "seed", "step"], kind="stable")
        t = g["wall_time"].to_numpy(float)
        seen = (~pd.Series(g["seed"].to_numpy()).duplicated()).cumsum().to_numpy()
        frames.append(
            pd.DataFrame(
                {
                    "algorithm": algorithm,
                    "label": style.label(algorithm),
                    "time_s": t - t[0],
                    "value": g["value"].to_numpy(float),
                    "best": best_so_far(g["value"].to_numpy(float)),
                    "n_trials": seen,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def ray_hpo_curves_figure(scalars: pd.DataFrame, metric: str = "Unnormalised_Loss/Test") -> tuple[Any, pd.DataFrame]:
    """Log-log step plot of each search's pooled best-so-far curve; returns (figure, sidecar table)."""
    plt = pyplot()
    curves = pooled_best_curves(scalars, metric)
    fig, ax = plt.subplots(figsize=style.SQUARE)
    for algorithm, g in curves.groupby("algorithm", sort=False):
        finite = np.isfinite(g["best"].to_numpy()) & (g["time_s"].to_numpy() > 0)
        if not finite.any():
            continue
        label = f"{style.label(algorithm)} ({int(g['n_trials'].max())} trials)"
        kwargs = style.line_kwargs(algorithm) | {"label": label}
        kwargs.pop("marker", None)
        ax.step(g["time_s"].to_numpy()[finite], g["best"].to_numpy()[finite], where="post", **kwargs)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Runtime (s)")
    ax.set_ylabel(f"Best {metric_label(metric)} so far (selected by test)")
    ax.legend(loc="upper right", fontsize=6)
    return fig, curves


def build_ray_figure(
    scalars_paths: Sequence[str | os.PathLike[str]],
    pdf_path: str | os.PathLike[str],
    csv_path: str | os.PathLike[str],
    metric: str = "Unnormalised_Loss/Test",
) -> pd.DataFrame:
    """Read the aggregated Ray experiments, draw the figure, write PDF and CSV sidecar atomically."""
    scalars = read_scalars_many(scalars_paths, tags=[metric])
    fig, curves = ray_hpo_curves_figure(scalars, metric)
    atomic_savefig(fig, pdf_path)
    atomic_write_csv(curves, csv_path)
    pyplot().close(fig)
    return curves

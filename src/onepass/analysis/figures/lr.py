"""Kind ``LR``: the learning-rate schedule of every algorithm from one shared initialisation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import style
from ..loading import read_finals, read_scalars_many
from ..stats import THREE_BATCHED, THREE_BATCHED_SOURCE
from .common import FigureContext, legend_below, plain_log_ticks, pyplot

LR_TAGS = ["Hyperparameter/Lr", "Hyperparameter/Lr_q05", "Hyperparameter/Lr_q95"]


def _lr_series(
    a: pd.DataFrame, alg: str, final: pd.DataFrame | None, seed: int, max_step: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(steps, lr, lr_q05, lr_q95) of one algorithm's run ``a``, or None when there is nothing to draw.

    Logged ``Hyperparameter/Lr`` (with its quantiles, if logged) comes first; else a constant
    ``init_lr`` from the final table over the whole run.
    """
    lr = a[a["tag"] == "Hyperparameter/Lr"].sort_values("step")
    if len(lr):
        steps, vals = lr["step"].to_numpy(int), lr["value"].to_numpy(float)
        q = {}
        for qn in ("q05", "q95"):
            qq = a[a["tag"] == f"Hyperparameter/Lr_{qn}"].set_index("step")["value"]
            q[qn] = qq.reindex(steps).to_numpy(float) if len(qq) else np.full(len(steps), np.nan)
        return steps, vals, q["q05"], q["q95"]
    if final is not None and "init_lr" in final.columns:
        f = final[(final["algorithm"] == alg) & (final["seed"] == seed)]
        if f.empty or not np.isfinite(float(f["init_lr"].iloc[0])):
            return None
        return np.array([0, max_step]), np.full(2, float(f["init_lr"].iloc[0])), np.full(2, np.nan), np.full(2, np.nan)
    return None


def lr_figure(
    scalars: pd.DataFrame,
    final: pd.DataFrame | None = None,
    seed: int = 0,
    exclude: Sequence[str] = (THREE_BATCHED_SOURCE, THREE_BATCHED, "BayesOpt"),
) -> tuple[Any, pd.DataFrame]:
    """Learning-rate schedule of every algorithm for one initialisation (one seed; paired draws).

    Per-element learning rates (HDLR) are drawn as their mean with the q05-q95 band.  An
    algorithm that logged no ``Hyperparameter/Lr`` but has ``init_lr`` is drawn constant.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=style.SINGLE_COLUMN)
    sub = scalars[scalars["seed"] == seed]
    names = set(sub["algorithm"]) | (set(final["algorithm"]) if final is not None else set())
    algs = [a for a in style.order(names) if a not in set(exclude)]
    max_step = int(sub["step"].max()) if len(sub) else 0
    rows = []
    for alg in algs:
        series = _lr_series(sub[sub["algorithm"] == alg], alg, final, seed, max_step)
        if series is None:
            continue
        steps, vals, q05, q95 = series
        ax.plot(steps, vals, **style.line_kwargs(alg))
        if np.isfinite(q05).any():
            ax.fill_between(steps, q05, q95, color=style.colour(alg), alpha=0.2, linewidth=0)
        for s, v, lo, hi in zip(steps, vals, q05, q95, strict=True):
            rows.append(
                {
                    "algorithm": alg,
                    "label": style.label(alg),
                    "seed": seed,
                    "step": int(s),
                    "lr": v,
                    "lr_q05": lo,
                    "lr_q95": hi,
                }
            )
    if not rows:
        raise ValueError(f"LR: no learning-rate data for seed {seed}")
    ax.set_yscale("log")
    plain_log_ticks(ax, "y")
    ax.set_xlabel("Network Weight Update Step")
    ax.set_ylabel("Learning Rate")
    legend_below(ax)
    return fig, pd.DataFrame(rows)


def render(context: FigureContext) -> tuple[Any, pd.DataFrame]:
    """Options: ``seed`` (0: the initialisation shown), ``algorithms``, ``exclude``."""
    scalars = context.filtered(read_scalars_many(context.paths("scalars"), tags=LR_TAGS))
    final = context.filtered(read_finals(context.paths("final"))) if context.paths("final") else None
    return lr_figure(
        scalars,
        final,
        seed=int(context.opt("seed", 0)),
        exclude=list(context.opt("exclude", [THREE_BATCHED_SOURCE, THREE_BATCHED, "BayesOpt"])),
    )

"""Kind ``ProofOfConcept``: Ours (WD+LR) trajectories over a GP-interpolated landscape of Random final losses."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import style
from ..loading import read_finals, read_scalars_many
from ..stats import DEFAULT_SEED, diverged_mask
from .common import FigureContext, pyplot

HP_TAGS = ["Hyperparameter/Lr", "Hyperparameter/Weight_Decay"]


def _landscape(
    bg: pd.DataFrame, metric: str, seed: int, nan_value: float, grid_size: int, lr_range, wd_range
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(clipped background finals y, lr grid, wd grid, GP prediction on the grid) from the background runs."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, WhiteKernel

    y = pd.to_numeric(bg[metric], errors="coerce").to_numpy(float)
    y = np.where(np.isfinite(y) & (bg["status"].to_numpy() != "diverged"), np.minimum(y, nan_value), nan_value)
    X = np.column_stack([np.log10(bg["init_lr"].to_numpy(float)), np.log10(bg["init_weight_decay"].to_numpy(float))])
    gp = GaussianProcessRegressor(RBF(length_scale=[1.0, 1.0]) + WhiteKernel(), normalize_y=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings on tiny fixtures
        gp.fit(X, np.log10(y))
    gl = np.linspace(lr_range[0], lr_range[1], grid_size)
    gw = np.linspace(wd_range[0], wd_range[1], grid_size)
    LL, WW = np.meshgrid(gl, gw)
    pred = np.minimum(10.0 ** gp.predict(np.column_stack([LL.ravel(), WW.ravel()])), nan_value).reshape(LL.shape)
    return y, gl, gw, pred


def _draw_landscape(fig, ax, gl: np.ndarray, gw: np.ndarray, pred: np.ndarray, nan_value: float) -> None:
    """The landscape as a log-coloured mesh, hatched where the runs failed ("NaN" on the colour bar)."""
    from matplotlib.colors import LogNorm

    norm = LogNorm(vmin=max(pred.min(), 1e-12), vmax=nan_value)
    mesh = ax.pcolormesh(10.0**gl, 10.0**gw, pred, norm=norm, cmap="viridis", shading="auto", rasterized=True)
    nan_region = pred >= nan_value * 0.999
    if nan_region.any():  # the paper hatches where the Random runs failed ("NaN" on the colour bar)
        ax.contourf(10.0**gl, 10.0**gw, nan_region.astype(float), levels=[0.5, 1.5], colors="none", hatches=["xx"])
    cb = fig.colorbar(mesh, ax=ax)
    cb.set_label("Final Test MSE (No HPO)", fontsize=6)
    ticks = [t for t in cb.get_ticks() if norm.vmin <= t < nan_value * 0.7] + [nan_value]
    cb.set_ticks(ticks)
    cb.set_ticklabels([f"{t:g}" for t in ticks[:-1]] + ["NaN"])


def _landscape_rows(bg, y, gl, gw, pred, background_algorithm: str) -> list[dict[str, Any]]:
    LL, WW = np.meshgrid(gl, gw)
    rows = [
        {
            "part": "grid",
            "algorithm": background_algorithm,
            "seed": np.nan,
            "step": np.nan,
            "lr": 10.0**a,
            "weight_decay": 10.0**b,
            "value": v,
        }
        for a, b, v in zip(LL.ravel(), WW.ravel(), pred.ravel(), strict=True)
    ]
    rows += [
        {
            "part": "background_run",
            "algorithm": background_algorithm,
            "seed": int(s),
            "step": np.nan,
            "lr": float(lr),
            "weight_decay": float(wd),
            "value": float(v),
        }
        for s, lr, wd, v in zip(bg["seed"], bg["init_lr"], bg["init_weight_decay"], y, strict=True)
    ]
    return rows


def _finished_trajectories(scalars: pd.DataFrame, fin: pd.DataFrame, algorithm: str, metric: str):
    """Per seed, the (step x lr/wd) table of the runs whose final metric and final lr, wd are finite."""
    tr = scalars[(scalars["algorithm"] == algorithm) & scalars["tag"].isin(HP_TAGS)]
    wide_by_seed = {}
    for s, g in tr.groupby("seed", sort=True):
        wide = g.pivot_table(index="step", columns="tag", values="value", aggfunc="last").sort_index()
        if set(HP_TAGS) - set(wide.columns):
            continue
        f = fin[fin["seed"] == s]
        final_ok = len(f) and not diverged_mask(f, metric)[0]
        if final_ok and np.all(np.isfinite(wide.iloc[-1].to_numpy(float))):
            wide_by_seed[int(s)] = wide
    return wide_by_seed


def _draw_trajectory(ax, w: pd.DataFrame, seed: int, algorithm: str) -> list[dict[str, Any]]:
    """One run's (lr, wd) path, start 'o', end 's' in the algorithm's colour; its sidecar rows."""
    lr, wd = w["Hyperparameter/Lr"].to_numpy(float), w["Hyperparameter/Weight_Decay"].to_numpy(float)
    ax.plot(lr, wd, color="white", linewidth=0.7, alpha=0.9)
    ax.plot(lr[0], wd[0], marker="o", markersize=2.5, color="white", markeredgecolor="black", mew=0.3)
    ax.plot(lr[-1], wd[-1], marker="s", markersize=2.5, color=style.colour(algorithm), markeredgecolor="black", mew=0.3)
    return [
        {
            "part": "trajectory",
            "algorithm": algorithm,
            "seed": seed,
            "step": int(st),
            "lr": a,
            "weight_decay": b,
            "value": np.nan,
        }
        for st, a, b in zip(w.index, lr, wd, strict=True)
    ]


def proof_of_concept_figure(
    final: pd.DataFrame,
    scalars: pd.DataFrame,
    metric: str = "Unnormalised_Loss/Test",
    background_algorithm: str = "Random",
    trajectory_algorithm: str = "Ours_LR",
    n_trajectories: int = 20,
    seed: int = DEFAULT_SEED,
    nan_value: float = 150.0,
    grid_size: int = 100,
    lr_range: Sequence[float] = (-6.0, -0.5),
    wd_range: Sequence[float] = (-7.0, 1.0),
) -> tuple[Any, pd.DataFrame]:
    """Ours_LR (lr, wd) trajectories over a GP-interpolated landscape of Random final losses.

    Background: a GP (RBF + white noise, normalised targets) regresses log10 final metric of
    the Random runs on (log10 initial lr, log10 initial wd); non-finite/diverged finals are
    set to ``nan_value`` (150, drawn as "NaN" on the colour bar) so failed regions show as the
    worst colour; predictions on a ``grid_size``² log grid are clipped to ≤ ``nan_value``.
    Overlay: ``n_trajectories`` seeded random Ours_LR runs whose final metric and final
    lr/wd are finite; start 'o', end 's'.
    """
    plt = pyplot()
    bg = final[final["algorithm"] == background_algorithm]
    if len(bg) < 3:
        raise ValueError(f"ProofOfConcept: need ≥3 {background_algorithm} runs, found {len(bg)}")
    for col in ("init_lr", "init_weight_decay"):
        if col not in bg.columns:
            raise KeyError(f"ProofOfConcept: final table lacks {col!r}")
    y, gl, gw, pred = _landscape(bg, metric, seed, nan_value, grid_size, lr_range, wd_range)
    fig, ax = plt.subplots(figsize=style.SQUARE)
    _draw_landscape(fig, ax, gl, gw, pred, nan_value)
    rows = _landscape_rows(bg, y, gl, gw, pred, background_algorithm)
    fin = final[final["algorithm"] == trajectory_algorithm]
    wide_by_seed = _finished_trajectories(scalars, fin, trajectory_algorithm, metric)
    ok_seeds = list(wide_by_seed)
    rng = np.random.default_rng(seed)
    chosen = (
        sorted(rng.choice(ok_seeds, size=min(n_trajectories, len(ok_seeds)), replace=False).tolist())
        if ok_seeds
        else []
    )
    for s in chosen:
        rows += _draw_trajectory(ax, wide_by_seed[s], s, trajectory_algorithm)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(10.0 ** lr_range[0], 10.0 ** lr_range[1])
    ax.set_ylim(10.0 ** wd_range[0], 10.0 ** wd_range[1])
    ax.grid(False)
    ax.set_xlabel("Learning Rate")
    ax.set_ylabel("Weight Decay")
    n_nan = int(np.sum(y >= nan_value))
    fig.text(
        0.01,
        -0.05,
        f"{n_nan} of {len(bg)} {style.label(background_algorithm)} runs diverged, NaN or ≥{nan_value:g} "
        f"(drawn as NaN); {len(chosen)} of {len(fin)} {style.label(trajectory_algorithm)} "
        "trajectories shown",
        fontsize=5.5,
        va="top",
    )
    return fig, pd.DataFrame(rows)


def render(context: FigureContext) -> tuple[Any, pd.DataFrame]:
    """Options: ``metric``, ``background_algorithm``, ``trajectory_algorithm``, ``n_trajectories``, ``seed``,
    ``nan_value``, ``grid_size``, ``lr_range``, ``wd_range`` (log10 axis limits)."""
    _, metric = context.metric()
    final = read_finals(context.paths("final"))
    scalars = read_scalars_many(context.paths("scalars"), tags=HP_TAGS)
    return proof_of_concept_figure(
        final,
        scalars,
        metric,
        str(context.opt("background_algorithm", "Random")),
        str(context.opt("trajectory_algorithm", "Ours_LR")),
        int(context.opt("n_trajectories", 20)),
        context.seed,
        float(context.opt("nan_value", 150.0)),
        int(context.opt("grid_size", 100)),
        list(context.opt("lr_range", [-6.0, -0.5])),
        list(context.opt("wd_range", [-7.0, 1.0])),
    )

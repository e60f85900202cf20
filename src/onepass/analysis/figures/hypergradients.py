"""Kind ``Hypergradients``: accuracy of the Neumann hypergradient against the exact one over (T, i)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from .common import FigureContext, pyplot

ADAM_LR = 0.05
ADAM_EPS = 1e-8


def adam_first_step(g: np.ndarray, lr: float = ADAM_LR, eps: float = ADAM_EPS) -> np.ndarray:
    """First bias-corrected Adam step for gradient g: lr · g / (|g| + eps) (≈ lr · sign g)."""
    g = np.asarray(g, dtype=float)
    return lr * g / (np.abs(g) + eps)


def hypergradient_errors(table: pd.DataFrame, hyperparameter: str) -> pd.DataFrame:
    """Per (T, i): the paper's first-Adam-step relative error (nanmean) and the raw error.

    Raw relative error |neumann − exact| / |exact| (docs/FIDELITY.md) is summarised by its nanmedian
    (heavy-tailed when the exact hypergradient is near 0) and also its nanmean.
    """
    need = {"T", "i", "seed", "hyperparameter", "neumann", "exact"}
    missing = need - set(table.columns)
    if missing:
        raise ValueError(f"hypergradient comparison table lacks column(s) {sorted(missing)}")
    sub = table[(table["hyperparameter"] == hyperparameter) & (table["i"] <= table["T"])]
    if sub.empty:
        raise ValueError(f"hypergradient comparison table has no rows for hyperparameter {hyperparameter!r}")
    n = sub["neumann"].to_numpy(float)
    e = sub["exact"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        sn, se = adam_first_step(n), adam_first_step(e)
        adam_err = np.abs(sn - se) / np.abs(se)
        raw = np.abs(n - e) / np.abs(e)
    adam_err[~np.isfinite(adam_err)] = np.nan
    raw[~np.isfinite(raw)] = np.nan
    frame = sub[["T", "i"]].assign(adam=adam_err, raw=raw)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for (T, i), g in frame.groupby(["T", "i"], sort=True):
            rows.append(
                {
                    "T": int(T),
                    "i": int(i),
                    "hyperparameter": hyperparameter,
                    "adam_step_rel_error": np.nanmean(g["adam"]),
                    "raw_rel_error_median": np.nanmedian(g["raw"]),
                    "raw_rel_error_mean": np.nanmean(g["raw"]),
                    "n_pairs": len(g),
                    "n_valid": int(np.isfinite(g["raw"]).sum()),
                }
            )
    return pd.DataFrame(rows)


def hypergradients_figure(table: pd.DataFrame, hyperparameter: str) -> tuple[Any, pd.DataFrame]:
    """Two heatmaps over (T, i): first-Adam-step error (the paper's) and raw hypergradient error."""
    from matplotlib.colors import Normalize

    plt = pyplot()
    stats = hypergradient_errors(table, hyperparameter)
    Tmax, imax = int(stats["T"].max()), int(stats["i"].max())
    fig, axes = plt.subplots(1, 2, figsize=(6.8, 3.0))
    panels = [
        ("adam_step_rel_error", "First Adam step: relative error (mean)"),
        ("raw_rel_error_median", "Hypergradient: relative error (median)"),
    ]
    cmap = plt.get_cmap("viridis").with_extremes(bad="white")
    for ax, (col, title) in zip(axes, panels, strict=True):
        img = np.full((Tmax, imax), np.nan)
        for _, r in stats.iterrows():
            img[int(r["T"]) - 1, int(r["i"]) - 1] = r[col]
        vmax = np.nanmax(img) if np.isfinite(img).any() else 1.0
        norm = Normalize(0.0, vmax if vmax > 0 else 1.0)
        im = ax.imshow(
            np.ma.masked_invalid(img),
            origin="lower",
            cmap=cmap,
            norm=norm,
            aspect="auto",
            extent=(0.5, imax + 0.5, 0.5, Tmax + 0.5),
        )
        for (ti, ii), v in np.ndenumerate(img):
            if np.isfinite(v):
                ax.text(
                    ii + 1,
                    ti + 1,
                    f"{v:.0%}" if v < 10 else f"{v:.0f}×",
                    ha="center",
                    va="center",
                    fontsize=4,
                    color="white" if norm(v) < 0.5 else "black",
                )
        ax.set_xticks(range(1, imax + 1))
        ax.set_yticks(range(1, Tmax + 1))
        ax.grid(False)
        ax.set_xlabel("Look-back distance $i$")
        ax.set_ylabel("Update interval $T$")
        ax.set_title(title, fontsize=7)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    name = {"lr": "Learning rate", "weight_decay": "Weight decay", "momentum": "Momentum"}.get(
        hyperparameter, hyperparameter
    )
    fig.suptitle(f"{name}: Neumann vs exact hypergradient", fontsize=8)
    fig.tight_layout()
    return fig, stats


def render(context: FigureContext) -> tuple[Any, pd.DataFrame]:
    """Option ``hyperparameter`` (default from the name: ..._Weight_Decay, ..._Momentum, else lr)."""
    paths = context.paths("hypergradients")
    if not paths:
        raise ValueError(f"figure {context.name!r}: no hypergradient comparison CSV given")
    table = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    name = context.name
    hp = context.options.get("hyperparameter") or (
        "weight_decay" if name.endswith("Weight_Decay") else "momentum" if name.endswith("Momentum") else "lr"
    )
    return hypergradients_figure(table, str(hp))

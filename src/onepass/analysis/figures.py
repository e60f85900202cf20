"""One function per figure kind; each draws the figure and returns the statistics it plotted.

Every ``<kind>_figure`` function takes already-loaded data and returns ``(figure, stats)``;
:func:`build_figure` loads the aggregated inputs, calls the right one and writes
``<Name>.pdf`` plus the ``<Name>.csv`` sidecar atomically.  Diverged runs are never dropped
silently: they are counted in the sidecar (``n_runs``, ``n_diverged``) and shown in the figure.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import style
from .loading import (
    atomic_savefig,
    atomic_write_csv,
    experiment_of,
    read_finals,
    read_scalars_many,
    trajectories,
)
from .metrics import (
    ERROR_METRIC,
    default_metric,
    default_scale,
    divergence_threshold,
    infer_dataset,
    metric_label,
)
from .stats import (
    DEFAULT_SEED,
    N_RESAMPLES,
    THREE_BATCHED,
    THREE_BATCHED_SOURCE,
    best_so_far,
    bootstrap_median_band,
    diverged_mask,
    step_interpolate,
    with_random_3batched,
)
from .targets import FIGURE_NEEDS_FINAL, FIGURE_NEEDS_SCALARS

FIGURE_KINDS = (
    "CDF",
    "CDF_Error",
    "Envelope",
    "HPOCurves",
    "Runtime",
    "LR",
    "Sensitivity",
    "Hypergradients",
    "ProofOfConcept",
)

#: Which aggregated inputs each kind reads (the rules wire them through onepass.analysis.targets).
NEEDS_FINAL = FIGURE_NEEDS_FINAL
NEEDS_SCALARS = FIGURE_NEEDS_SCALARS

ADAM_LR = 0.05
ADAM_EPS = 1e-8


def _plt():
    style.apply_style()
    import matplotlib.pyplot as plt

    return plt


def _legend_label(algorithm: str, n: int, n_div: int) -> str:
    base = style.label(algorithm)
    return f"{base} ({n_div}/{n} div.)" if n_div else base


def _note(total: int, diverged: int, what: str = "runs") -> str:
    return f"{diverged} of {total} {what} diverged" if diverged else f"no {what} diverged (of {total})"


@dataclass
class _Tally:
    """Runs and diverged runs over every algorithm of a figure (for its divergence note)."""

    runs: int = 0
    diverged: int = 0


def _runs_by_algorithm(
    final: pd.DataFrame, metric: str, threshold: float, algorithms: Iterable[str], tally: _Tally
) -> Iterator[tuple[str, pd.DataFrame, np.ndarray, int, int]]:
    """Per algorithm: its final rows, the mask of its diverged runs and both counts (added to ``tally``)."""
    for alg in algorithms:
        sub = final[final["algorithm"] == alg]
        div = diverged_mask(sub, metric, threshold)
        n, n_div = len(sub), int(div.sum())
        tally.runs += n
        tally.diverged += n_div
        yield alg, sub, div, n, n_div


def _legend_below(ax, note: str | None = None, ncol: int = 2) -> None:
    """Legend under the axes (many algorithms), titled with the divergence count when given."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        legend = ax.legend(
            handles,
            labels,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.2),
            ncol=ncol,
            fontsize=6,
            title=note,
            title_fontsize=6,
        )
        legend._legend_box.align = "left"


def _plain_log_ticks(ax, axis: str = "y") -> None:
    """Plain numbers (3, 4, 10, 20) instead of 2×10^1 on log axes: easier to read in print.

    Minor ticks are all labelled on axes spanning under half a decade, only those with leading
    digit 2, 3 or 5 up to one and a half decades, and none beyond, so wide axes stay uncluttered.
    """
    from matplotlib.ticker import FuncFormatter

    def limits() -> tuple[float, float]:
        return ax.get_ylim() if axis == "y" else ax.get_xlim()

    def minor(v: float, _: object) -> str:
        lo, hi = limits()
        if lo <= 0 or hi / lo > 10**1.5:
            return ""
        if hi / lo <= 10**0.5:  # a fraction of a decade: every minor tick carries the information
            return f"{v:.3g}"
        return f"{v:g}" if f"{v:e}"[0] in "235" else ""

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(FuncFormatter(minor))


def _divergence_note(fig, total: int, diverged: int, what: str = "runs") -> None:
    """For figures without a legend: the divergence count in the top-left corner of the figure."""
    fig.text(0.01, 0.99, _note(total, diverged, what), fontsize=5.5, ha="left", va="top", color="#333333")


# --------------------------------------------------------------------------------------- CDF
def cdf_figure(
    final: pd.DataFrame, metric: str, threshold: float = np.inf, log_x: bool = True
) -> tuple[Any, pd.DataFrame]:
    """Empirical CDF of the final metric per algorithm: y = k / N over all N runs.

    Diverged runs (non-finite or above ``threshold``) stay in N, so each curve stops below 1
    at the fraction of finite runs, as in the paper.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=style.SINGLE_COLUMN)
    rows = []
    tally = _Tally()
    for alg, sub, div, n, n_div in _runs_by_algorithm(final, metric, threshold, style.order(final["algorithm"]), tally):
        vals = np.sort(pd.to_numeric(sub[metric], errors="coerce").to_numpy(dtype=float)[~div])
        cdf = np.arange(1, len(vals) + 1) / n if n else np.empty(0)
        kw = style.line_kwargs(alg) | {"label": _legend_label(alg, n, n_div)}
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
        _plain_log_ticks(ax, "x")
    else:
        ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Final " + metric_label(metric))
    ax.set_ylabel("Cumulative fraction of runs")
    _legend_below(ax, _note(tally.runs, tally.diverged))
    return fig, pd.DataFrame(rows)


# ---------------------------------------------------------------------------------- Envelope
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
    plt = _plt()
    fig, ax = plt.subplots(figsize=style.SINGLE_COLUMN)
    rows = []
    tally = _Tally()
    for alg, sub, div, n, n_div in _runs_by_algorithm(final, metric, threshold, style.order(final["algorithm"]), tally):
        if alg == THREE_BATCHED:
            source, seeds = THREE_BATCHED_SOURCE, sub.loc[~div, "source_seed"].astype(int).tolist()
        else:
            source, seeds = alg, sub.loc[~div, "seed"].astype(int).tolist()
        matrix, steps, _ = trajectories(scalars, metric, source, seeds)
        kw = style.line_kwargs(alg) | {"label": _legend_label(alg, n, n_div)}
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
    _plain_log_ticks(ax, "y")
    ax.set_xlabel("Network Weight Update Step")
    ax.set_ylabel(metric_label(metric))
    _legend_below(ax, _note(tally.runs, tally.diverged))
    return fig, pd.DataFrame(rows)


# --------------------------------------------------------------------------------- HPOCurves
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
    plt = _plt()
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
        kw = style.line_kwargs(alg) | {"label": _legend_label(alg, matrix.shape[0], n_inf)}
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
    _plain_log_ticks(ax, "x")
    _plain_log_ticks(ax, "y")
    ax.set_xlabel("Runtime (s)")
    ax.set_ylabel("Best " + metric_label(metric) + " so far")
    n_all = sum(len(c) for c in curves.values())
    n_never = int(sum(r["n_never_finite"] for r in {r["algorithm"]: r for r in rows}.values()))
    _legend_below(ax, f"{n_never} of {n_all} runs never reached a finite value" if n_never else None)
    return fig, pd.DataFrame(rows)


# ----------------------------------------------------------------------------------- Runtime
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
    plt = _plt()
    fig, ax = plt.subplots(figsize=style.SINGLE_COLUMN)
    algs = [a for a in style.order(final["algorithm"]) if a not in set(exclude)]
    rows, ticks = [], []
    tally = _Tally()
    for k, (alg, sub, div, n, n_div) in enumerate(_runs_by_algorithm(final, metric, threshold, algs, tally)):
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
    _divergence_note(fig, tally.runs, tally.diverged)
    return fig, pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------- LR
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
    plt = _plt()
    fig, ax = plt.subplots(figsize=style.SINGLE_COLUMN)
    sub = scalars[scalars["seed"] == seed]
    names = set(sub["algorithm"]) | (set(final["algorithm"]) if final is not None else set())
    algs = [a for a in style.order(names) if a not in set(exclude)]
    max_step = int(sub["step"].max()) if len(sub) else 0
    rows = []
    for alg in algs:
        a = sub[sub["algorithm"] == alg]
        lr = a[a["tag"] == "Hyperparameter/Lr"].sort_values("step")
        kw = style.line_kwargs(alg)
        if len(lr):
            steps, vals = lr["step"].to_numpy(int), lr["value"].to_numpy(float)
            q = {}
            for qn in ("q05", "q95"):
                qq = a[a["tag"] == f"Hyperparameter/Lr_{qn}"].set_index("step")["value"]
                q[qn] = qq.reindex(steps).to_numpy(float) if len(qq) else np.full(len(steps), np.nan)
            ax.plot(steps, vals, **kw)
            if np.isfinite(q["q05"]).any():
                ax.fill_between(steps, q["q05"], q["q95"], color=style.colour(alg), alpha=0.2, linewidth=0)
        elif final is not None and "init_lr" in final.columns:
            f = final[(final["algorithm"] == alg) & (final["seed"] == seed)]
            if f.empty or not np.isfinite(float(f["init_lr"].iloc[0])):
                continue
            steps = np.array([0, max_step])
            vals = np.full(2, float(f["init_lr"].iloc[0]))
            q = {"q05": np.full(2, np.nan), "q95": np.full(2, np.nan)}
            ax.plot(steps, vals, **kw)
        else:
            continue
        for s, v, q05, q95 in zip(steps, vals, q["q05"], q["q95"], strict=True):
            rows.append(
                {
                    "algorithm": alg,
                    "label": style.label(alg),
                    "seed": seed,
                    "step": int(s),
                    "lr": v,
                    "lr_q05": q05,
                    "lr_q95": q95,
                }
            )
    if not rows:
        raise ValueError(f"LR: no learning-rate data for seed {seed}")
    ax.set_yscale("log")
    _plain_log_ticks(ax, "y")
    ax.set_xlabel("Network Weight Update Step")
    ax.set_ylabel("Learning Rate")
    _legend_below(ax)
    return fig, pd.DataFrame(rows)


# ------------------------------------------------------------------------------- Sensitivity
DEFAULT_CELL_PATTERNS = (
    r"(?:^|_)T(?P<T>\d+)_i(?P<i>\d+)$",
    r"network_weight_steps[_=-]?(?P<T>\d+)_lookback[_=-]?(?P<i>\d+)$",
)


def parse_cell(experiment: str, patterns: Sequence[str] = DEFAULT_CELL_PATTERNS) -> tuple[int, int] | None:
    """(T, i) of a grid sub-experiment name, or None for a non-grid experiment."""
    for p in patterns:
        m = re.search(p, experiment)
        if m:
            return int(m.group("T")), int(m.group("i"))
    return None


def sensitivity_cells(
    final: pd.DataFrame,
    metric: str,
    threshold: float,
    scale: float,
    patterns: Sequence[str] = DEFAULT_CELL_PATTERNS,
    cells: Mapping[str, Sequence[int] | None] | None = None,
) -> pd.DataFrame:
    """Per (experiment, algorithm): median of the final metric × scale over non-diverged runs.

    The (T, i) of an experiment comes from ``cells`` (the pipeline's grid plan) when given,
    else from its name (``Sensitivity_T3_i5``); experiments without a cell are references.
    """
    rows = []
    for (exp, alg), g in final.groupby(["experiment", "algorithm"], sort=True):
        div = diverged_mask(g, metric, threshold)
        vals = pd.to_numeric(g.loc[~div, metric], errors="coerce").to_numpy(float)
        if cells is not None and str(exp) in cells:
            cell = tuple(cells[str(exp)]) if cells[str(exp)] else None
        else:
            cell = parse_cell(str(exp), patterns)
        rows.append(
            {
                "experiment": exp,
                "algorithm": alg,
                "label": style.label(str(alg)),
                "T": cell[0] if cell else np.nan,
                "i": cell[1] if cell else np.nan,
                "value": float(np.median(vals)) * scale if len(vals) else np.nan,
                "n_runs": len(g),
                "n_diverged": int(div.sum()),
            }
        )
    return pd.DataFrame(rows)


def sensitivity_figure(
    final: pd.DataFrame,
    algorithm: str,
    metric: str,
    threshold: float = np.inf,
    scale: float = 1000.0,
    shared_scale: Sequence[str] | None = None,
    reference_algorithm: str = "Random",
    reference_cell: Sequence[int] | None = (10, 5),
    lower_triangle: bool | None = None,
    cell_patterns: Sequence[str] = DEFAULT_CELL_PATTERNS,
    cells: Mapping[str, Sequence[int] | None] | None = None,
) -> tuple[Any, pd.DataFrame]:
    """Heatmap of the median final metric (×scale) over update interval T and look-back i.

    ``lower_triangle`` (default: on for Diff-through-Opt) hides cells with i > T.  The colour
    scale is shared by the algorithms in ``shared_scale`` (default: every non-reference one)
    so the per-algorithm PDFs can be compared; a single reference cell (Random) sits beside.
    """
    from matplotlib.colors import Normalize

    plt = _plt()
    cells_df = sensitivity_cells(final, metric, threshold, scale, cell_patterns, cells)
    grid_cells = cells_df[cells_df["T"].notna()].copy()

    def triangular(alg: str) -> bool:
        if alg == algorithm and lower_triangle is not None:
            return bool(lower_triangle)
        return alg.startswith("DiffThroughOpt")

    # Hidden cells (i > T for Diff-through-Opt) are neither drawn nor used for the shared scale.
    hidden = [
        triangular(str(a)) and i > t
        for a, t, i in zip(grid_cells["algorithm"], grid_cells["T"], grid_cells["i"], strict=True)
    ]
    grid_cells = grid_cells[~np.asarray(hidden, dtype=bool)]
    mine = grid_cells[grid_cells["algorithm"] == algorithm]
    if mine.empty:
        raise ValueError(
            f"Sensitivity: no grid cells for algorithm {algorithm!r} "
            f"(experiments: {sorted(final['experiment'].unique())})"
        )
    if shared_scale is None:
        shared_scale = [a for a in grid_cells["algorithm"].unique() if a != reference_algorithm]
    scale_vals = grid_cells[grid_cells["algorithm"].isin(list(shared_scale)) | (grid_cells["algorithm"] == algorithm)]
    ref = cells_df[cells_df["algorithm"] == reference_algorithm]
    ref_row = None
    if len(ref):
        nongrid = ref[ref["T"].isna()]
        if len(nongrid):
            ref_row = nongrid.iloc[0]
        elif reference_cell is not None and len(ref[(ref["T"] == reference_cell[0]) & (ref["i"] == reference_cell[1])]):
            ref_row = ref[(ref["T"] == reference_cell[0]) & (ref["i"] == reference_cell[1])].iloc[0]
        else:
            ref_row = ref.sort_values(["T", "i"]).iloc[-1]
    vmax = np.nanmax(np.r_[scale_vals["value"].to_numpy(float), [ref_row["value"]] if ref_row is not None else []])
    norm = Normalize(0.0, vmax if np.isfinite(vmax) and vmax > 0 else 1.0)
    Ts = np.arange(1, int(mine["T"].max()) + 1)
    Is = np.arange(1, int(mine["i"].max()) + 1)
    img = np.full((len(Ts), len(Is)), np.nan)
    for _, r in mine.iterrows():
        img[int(r["T"]) - 1, int(r["i"]) - 1] = r["value"]
    fig = plt.figure(figsize=(3.3, 3.0))
    ax = fig.add_axes((0.14, 0.14, 0.62, 0.76))
    cmap = plt.get_cmap("viridis").with_extremes(bad="white")
    im = ax.imshow(
        np.ma.masked_invalid(img),
        origin="lower",
        cmap=cmap,
        norm=norm,
        aspect="auto",
        extent=(0.5, len(Is) + 0.5, 0.5, len(Ts) + 0.5),
    )
    for (ti, ii), v in np.ndenumerate(img):
        if np.isfinite(v):
            ax.text(
                ii + 1,
                ti + 1,
                f"{v:.0f}",
                ha="center",
                va="center",
                fontsize=4.5,
                color="white" if norm(v) < 0.5 else "black",
            )
    ax.set_xticks(Is)
    ax.set_yticks(Ts)
    ax.grid(False)
    ax.set_xlabel("Look-back distance $i$")
    ax.set_ylabel("Update interval $T$")
    ax.set_title(style.label(algorithm))
    cax = fig.add_axes((0.90, 0.14, 0.03, 0.76))
    fig.colorbar(im, cax=cax).set_label(
        f"Median final {metric_label(metric)}" + (f" ×{scale:g}" if scale != 1 else ""), fontsize=6
    )
    if ref_row is not None:
        rax = fig.add_axes((0.79, 0.02, 0.08, 0.08))
        rax.imshow([[ref_row["value"]]], cmap=cmap, norm=norm)
        rax.text(
            0,
            0,
            f"{ref_row['value']:.0f}",
            ha="center",
            va="center",
            fontsize=4.5,
            color="white" if norm(ref_row["value"]) < 0.5 else "black",
        )
        rax.set_xticks([])
        rax.set_yticks([])
        rax.grid(False)
        rax.set_xlabel(style.label(reference_algorithm), fontsize=5, labelpad=1)
    n, n_div = int(mine["n_runs"].sum()), int(mine["n_diverged"].sum())
    fig.text(
        0.01,
        -0.01,
        f"{n_div} of {n} runs diverged (excluded from medians)" if n_div else f"no runs diverged (of {n})",
        fontsize=5.5,
        va="top",
    )
    out = mine.assign(role="cell")
    if ref_row is not None:
        out = pd.concat([out, ref_row.to_frame().T.assign(role="reference")], ignore_index=True)
    out["vmax"] = norm.vmax
    return fig, out.reset_index(drop=True)


# ---------------------------------------------------------------------------- Hypergradients
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

    plt = _plt()
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


# ---------------------------------------------------------------------------- ProofOfConcept
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
    from matplotlib.colors import LogNorm
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, WhiteKernel

    plt = _plt()
    bg = final[final["algorithm"] == background_algorithm]
    if len(bg) < 3:
        raise ValueError(f"ProofOfConcept: need ≥3 {background_algorithm} runs, found {len(bg)}")
    for col in ("init_lr", "init_weight_decay"):
        if col not in bg.columns:
            raise KeyError(f"ProofOfConcept: final table lacks {col!r}")
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

    fig, ax = plt.subplots(figsize=style.SQUARE)
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

    tr = scalars[
        (scalars["algorithm"] == trajectory_algorithm)
        & scalars["tag"].isin(["Hyperparameter/Lr", "Hyperparameter/Weight_Decay"])
    ]
    fin = final[final["algorithm"] == trajectory_algorithm]
    ok_seeds = []
    wide_by_seed = {}
    for s, g in tr.groupby("seed", sort=True):
        wide = g.pivot_table(index="step", columns="tag", values="value", aggfunc="last").sort_index()
        if {"Hyperparameter/Lr", "Hyperparameter/Weight_Decay"} - set(wide.columns):
            continue
        f = fin[fin["seed"] == s]
        final_ok = len(f) and not diverged_mask(f, metric)[0]
        if final_ok and np.all(np.isfinite(wide.iloc[-1].to_numpy(float))):
            ok_seeds.append(int(s))
            wide_by_seed[int(s)] = wide
    rng = np.random.default_rng(seed)
    chosen = (
        sorted(rng.choice(ok_seeds, size=min(n_trajectories, len(ok_seeds)), replace=False).tolist())
        if ok_seeds
        else []
    )
    for s in chosen:
        w = wide_by_seed[s]
        lr, wd = w["Hyperparameter/Lr"].to_numpy(float), w["Hyperparameter/Weight_Decay"].to_numpy(float)
        ax.plot(lr, wd, color="white", linewidth=0.7, alpha=0.9)
        ax.plot(lr[0], wd[0], marker="o", markersize=2.5, color="white", markeredgecolor="black", mew=0.3)
        ax.plot(
            lr[-1],
            wd[-1],
            marker="s",
            markersize=2.5,
            color=style.colour(trajectory_algorithm),
            markeredgecolor="black",
            mew=0.3,
        )
        rows += [
            {
                "part": "trajectory",
                "algorithm": trajectory_algorithm,
                "seed": s,
                "step": int(st),
                "lr": a,
                "weight_decay": b,
                "value": np.nan,
            }
            for st, a, b in zip(w.index, lr, wd, strict=True)
        ]
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


# ------------------------------------------------------------------------------------- build
def _opt(options: Mapping[str, Any], key: str, default: Any) -> Any:
    value = options.get(key, default)
    return default if value is None else value


def resolve_metric(
    experiments: Sequence[str],
    options: Mapping[str, Any],
    experiments_config: Mapping[str, Any] | None,
    error: bool = False,
) -> tuple[str, str]:
    """(dataset, metric) of a figure: ``metric`` option, else the first experiment's default."""
    first = experiments[0]
    try:
        dataset = str(options.get("dataset") or infer_dataset(first, experiments_config))
    except ValueError:
        if options.get("metric"):
            return "", str(options["metric"])
        raise
    metric = options.get("metric") or default_metric(dataset, error=error)
    return dataset, str(metric)


def build_figure(
    kind: str,
    name: str,
    options: Mapping[str, Any],
    inputs: Mapping[str, Sequence[str]],
    pdf_path: str | os.PathLike[str],
    csv_path: str | os.PathLike[str],
    experiments_config: Mapping[str, Any] | None = None,
    cells: Mapping[str, Sequence[int] | None] | None = None,
) -> pd.DataFrame:
    """Load the inputs of one configured figure, draw it, write PDF + CSV sidecar atomically.

    ``inputs`` maps ``final`` / ``scalars`` / ``bayesopt_final`` / ``bayesopt_scalars`` /
    ``hypergradients`` to file paths (what rules/figures.smk passes as named inputs).
    """
    if kind not in FIGURE_KINDS:
        raise ValueError(f"figure {name!r}: unknown kind {kind!r} (known: {', '.join(FIGURE_KINDS)})")
    finals = list(inputs.get("final", []))
    scalars_paths = list(inputs.get("scalars", []))
    bo_scalars = list(inputs.get("bayesopt_scalars", []))
    experiments = [experiment_of(p) for p in finals or scalars_paths] or list(options.get("experiments", []))
    seed = int(_opt(options, "seed", DEFAULT_SEED))
    n_resamples = int(_opt(options, "n_resamples", N_RESAMPLES))
    algorithms = options.get("algorithms")

    def load_final() -> pd.DataFrame:
        f = read_finals(finals)
        if algorithms:
            f = f[f["algorithm"].isin(list(algorithms) + [THREE_BATCHED_SOURCE] * (THREE_BATCHED in algorithms))]
        if _opt(options, "three_batched", True):
            f = with_random_3batched(f, int(_opt(options, "three_batched_seed", DEFAULT_SEED)))
        if algorithms:
            f = f[f["algorithm"].isin(list(algorithms))]
        return f

    plt = _plt()
    if kind in ("CDF", "CDF_Error"):
        dataset, metric = resolve_metric(experiments, options, experiments_config, error=kind == "CDF_Error")
        thr = divergence_threshold(dataset, metric if kind == "CDF" else default_metric(dataset))
        final = load_final()
        if kind == "CDF_Error":
            # a run whose loss diverged also counts as diverged for its error
            lossm = default_metric(dataset)
            if lossm in final.columns:
                bad = diverged_mask(final, lossm, thr)
                final = final.assign(**{metric: np.where(bad, np.nan, final[metric])})
            thr = np.inf
        fig, stats = cdf_figure(final, metric, thr, log_x=bool(_opt(options, "log_x", kind == "CDF")))
    elif kind == "Envelope":
        dataset, metric = resolve_metric(experiments, options, experiments_config)
        final = load_final()
        src = "Accuracy/Test" if metric == ERROR_METRIC else metric
        scalars = read_scalars_many(scalars_paths, tags=[src])
        fig, stats = envelope_figure(
            final,
            scalars,
            metric,
            divergence_threshold(dataset, metric),
            n_resamples,
            seed,
            int(_opt(options, "max_points", 300)),
            float(_opt(options, "interval", 95.0)),
        )
    elif kind == "HPOCurves":
        dataset, metric = resolve_metric(experiments, options, experiments_config)
        src = "Accuracy/Test" if metric == ERROR_METRIC else metric
        scalars = read_scalars_many(scalars_paths, tags=[src])
        if algorithms:
            scalars = scalars[scalars["algorithm"].isin(list(algorithms))]
        if bo_scalars:
            bo = read_scalars_many(bo_scalars, tags=[src])
            scalars = pd.concat([scalars, bo.assign(algorithm="BayesOpt")], ignore_index=True)
        fig, stats = hpo_curves_figure(
            scalars,
            metric,
            divergence_threshold(dataset, metric),
            n_resamples,
            seed,
            int(_opt(options, "n_points", 200)),
            float(_opt(options, "interval", 95.0)),
            exclude=list(_opt(options, "exclude", [THREE_BATCHED_SOURCE])),
        )
    elif kind == "Runtime":
        dataset, metric = resolve_metric(experiments, options, experiments_config)
        final = read_finals(finals)
        if algorithms:
            final = final[final["algorithm"].isin(list(algorithms))]
        fig, stats = runtime_figure(
            final,
            metric,
            divergence_threshold(dataset, metric),
            str(_opt(options, "time_column", "train_seconds")),
            exclude=list(_opt(options, "exclude", [THREE_BATCHED_SOURCE])),
        )
    elif kind == "LR":
        scalars = read_scalars_many(
            scalars_paths, tags=["Hyperparameter/Lr", "Hyperparameter/Lr_q05", "Hyperparameter/Lr_q95"]
        )
        final = read_finals(finals) if finals else None
        if algorithms:
            scalars = scalars[scalars["algorithm"].isin(list(algorithms))]
            final = final[final["algorithm"].isin(list(algorithms))] if final is not None else None
        fig, stats = lr_figure(
            scalars,
            final,
            seed=int(_opt(options, "seed", 0)),
            exclude=list(_opt(options, "exclude", [THREE_BATCHED_SOURCE, THREE_BATCHED, "BayesOpt"])),
        )
    elif kind == "Sensitivity":
        if "algorithm" not in options:
            raise KeyError(f"figure {name!r}: kind Sensitivity needs option 'algorithm'")
        dataset, metric = resolve_metric(experiments, options, experiments_config)
        final = pd.concat([read_finals([p]) for p in finals], ignore_index=True)
        ref_cell = options.get("reference_cell", (10, 5))
        fig, stats = sensitivity_figure(
            final,
            str(options["algorithm"]),
            metric,
            divergence_threshold(dataset, metric),
            float(_opt(options, "scale", 1000.0)),
            options.get("shared_scale"),
            str(_opt(options, "reference_algorithm", "Random")),
            ref_cell,
            options.get("lower_triangle"),
            list(_opt(options, "cell_patterns", DEFAULT_CELL_PATTERNS)),
            cells,
        )
    elif kind == "Hypergradients":
        paths = list(inputs.get("hypergradients", []))
        if not paths:
            raise ValueError(f"figure {name!r}: no hypergradient comparison CSV given")
        table = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
        hp = options.get("hyperparameter") or (
            "weight_decay" if name.endswith("Weight_Decay") else "momentum" if name.endswith("Momentum") else "lr"
        )
        fig, stats = hypergradients_figure(table, str(hp))
    else:  # ProofOfConcept
        dataset, metric = resolve_metric(experiments, options, experiments_config)
        final = read_finals(finals)
        scalars = read_scalars_many(scalars_paths, tags=["Hyperparameter/Lr", "Hyperparameter/Weight_Decay"])
        fig, stats = proof_of_concept_figure(
            final,
            scalars,
            metric,
            str(_opt(options, "background_algorithm", "Random")),
            str(_opt(options, "trajectory_algorithm", "Ours_LR")),
            int(_opt(options, "n_trajectories", 20)),
            seed,
            float(_opt(options, "nan_value", 150.0)),
            int(_opt(options, "grid_size", 100)),
            list(_opt(options, "lr_range", [-6.0, -0.5])),
            list(_opt(options, "wd_range", [-7.0, 1.0])),
        )
    try:
        atomic_write_csv(stats, csv_path)
        atomic_savefig(fig, pdf_path)
    finally:
        plt.close(fig)
    return stats


__all__ = [
    "FIGURE_KINDS",
    "NEEDS_FINAL",
    "NEEDS_SCALARS",
    "adam_first_step",
    "build_figure",
    "cdf_figure",
    "default_scale",
    "envelope_figure",
    "hpo_curves_figure",
    "hypergradient_errors",
    "hypergradients_figure",
    "lr_figure",
    "parse_cell",
    "proof_of_concept_figure",
    "runtime_figure",
    "sensitivity_figure",
]

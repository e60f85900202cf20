"""Kind ``Sensitivity``: heatmap of the median final metric over update interval T and look-back i."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import style
from ..loading import read_finals
from ..metrics import metric_label
from ..stats import diverged_mask
from .common import FigureContext, pyplot

DEFAULT_CELL_PATTERNS = (
    r"(?:^|_)T(?P<T>\d+)_i(?P<i>\d+)$",
    r"update_interval[_=-]?(?P<T>\d+)_lookback[_=-]?(?P<i>\d+)$",
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


def _visible_grid(cells_df: pd.DataFrame, algorithm: str, lower_triangle: bool | None) -> pd.DataFrame:
    """Grid cells without the hidden ones (i > T for Diff-through-Opt): neither drawn nor used for the scale."""
    grid_cells = cells_df[cells_df["T"].notna()].copy()

    def triangular(alg: str) -> bool:
        if alg == algorithm and lower_triangle is not None:
            return bool(lower_triangle)
        return alg.startswith("DiffThroughOpt")

    hidden = [
        triangular(str(a)) and i > t
        for a, t, i in zip(grid_cells["algorithm"], grid_cells["T"], grid_cells["i"], strict=True)
    ]
    return grid_cells[~np.asarray(hidden, dtype=bool)]


def _reference_row(cells_df: pd.DataFrame, reference_algorithm: str, reference_cell: Sequence[int] | None):
    """The reference algorithm's cell: its non-grid run, else ``reference_cell``, else its last cell."""
    ref = cells_df[cells_df["algorithm"] == reference_algorithm]
    if not len(ref):
        return None
    nongrid = ref[ref["T"].isna()]
    if len(nongrid):
        return nongrid.iloc[0]
    if reference_cell is not None and len(ref[(ref["T"] == reference_cell[0]) & (ref["i"] == reference_cell[1])]):
        return ref[(ref["T"] == reference_cell[0]) & (ref["i"] == reference_cell[1])].iloc[0]
    return ref.sort_values(["T", "i"]).iloc[-1]


def _cell_text(ax, x: float, y: float, value: float, norm) -> None:
    colour = "white" if norm(value) < 0.5 else "black"
    ax.text(x, y, f"{value:.0f}", ha="center", va="center", fontsize=4.5, color=colour)


def _draw_grid(fig, mine: pd.DataFrame, norm, cmap, algorithm: str, metric: str, scale: float) -> None:
    """The (T, i) heatmap of one algorithm with its values written in, and the colour bar."""
    Ts = np.arange(1, int(mine["T"].max()) + 1)
    Is = np.arange(1, int(mine["i"].max()) + 1)
    img = np.full((len(Ts), len(Is)), np.nan)
    for _, r in mine.iterrows():
        img[int(r["T"]) - 1, int(r["i"]) - 1] = r["value"]
    ax = fig.add_axes((0.14, 0.14, 0.62, 0.76))
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
            _cell_text(ax, ii + 1, ti + 1, v, norm)
    ax.set_xticks(Is)
    ax.set_yticks(Ts)
    ax.grid(False)
    ax.set_xlabel("Look-back distance $i$")
    ax.set_ylabel("Update interval $T$")
    ax.set_title(f"{style.label(algorithm)}, {_seeds_per_cell(mine)}")
    cax = fig.add_axes((0.90, 0.14, 0.03, 0.76))
    fig.colorbar(im, cax=cax).set_label(
        f"Median final {metric_label(metric)}" + (f" ×{scale:g}" if scale != 1 else ""), fontsize=6
    )


def _seeds_per_cell(cells: pd.DataFrame) -> str:
    """"20 seeds per cell": a reduced run (the paper used 100) says so on the figure itself."""
    low, high = int(cells["n_runs"].min()), int(cells["n_runs"].max())
    return f"{low} seeds per cell" if low == high else f"{low}-{high} seeds per cell"


def _draw_reference(fig, ref_row, norm, cmap, reference_algorithm: str) -> None:
    """The single reference cell (Random) beside the heatmap, on the same colour scale."""
    rax = fig.add_axes((0.79, 0.02, 0.08, 0.08))
    rax.imshow([[ref_row["value"]]], cmap=cmap, norm=norm)
    _cell_text(rax, 0, 0, ref_row["value"], norm)
    rax.set_xticks([])
    rax.set_yticks([])
    rax.grid(False)
    rax.set_xlabel(style.label(reference_algorithm), fontsize=5, labelpad=1)


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

    plt = pyplot()
    cells_df = sensitivity_cells(final, metric, threshold, scale, cell_patterns, cells)
    grid_cells = _visible_grid(cells_df, algorithm, lower_triangle)
    mine = grid_cells[grid_cells["algorithm"] == algorithm]
    if mine.empty:
        raise ValueError(
            f"Sensitivity: no grid cells for algorithm {algorithm!r} "
            f"(experiments: {sorted(final['experiment'].unique())})"
        )
    if shared_scale is None:
        shared_scale = [a for a in grid_cells["algorithm"].unique() if a != reference_algorithm]
    scale_vals = grid_cells[grid_cells["algorithm"].isin(list(shared_scale)) | (grid_cells["algorithm"] == algorithm)]
    ref_row = _reference_row(cells_df, reference_algorithm, reference_cell)
    vmax = np.nanmax(np.r_[scale_vals["value"].to_numpy(float), [ref_row["value"]] if ref_row is not None else []])
    norm = Normalize(0.0, vmax if np.isfinite(vmax) and vmax > 0 else 1.0)
    fig = plt.figure(figsize=(3.3, 3.0))
    cmap = plt.get_cmap("viridis").with_extremes(bad="white")
    _draw_grid(fig, mine, norm, cmap, algorithm, metric, scale)
    if ref_row is not None:
        _draw_reference(fig, ref_row, norm, cmap, reference_algorithm)
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


def render(context: FigureContext) -> tuple[Any, pd.DataFrame]:
    """Options: ``algorithm`` (required), ``metric``, ``scale`` (1000), ``shared_scale``, ``reference_algorithm``,
    ``reference_cell``, ``lower_triangle``, ``cell_patterns``; the grid cells come from the rule (``cells``)."""
    if "algorithm" not in context.options:
        raise KeyError(f"figure {context.name!r}: kind Sensitivity needs option 'algorithm'")
    metric, threshold = context.metric_and_threshold()
    final = pd.concat([read_finals([p]) for p in context.paths("final")], ignore_index=True)
    return sensitivity_figure(
        final,
        str(context.options["algorithm"]),
        metric,
        threshold,
        float(context.opt("scale", 1000.0)),
        context.options.get("shared_scale"),
        str(context.opt("reference_algorithm", "Random")),
        context.options.get("reference_cell", (10, 5)),
        context.options.get("lower_triangle"),
        list(context.opt("cell_patterns", DEFAULT_CELL_PATTERNS)),
        context.cells,
    )

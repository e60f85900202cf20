"""Drawing helpers shared by the figure kinds: pyplot with the paper style, legends, divergence notes.

Diverged runs are never dropped silently: every kind counts them (:class:`Tally`) and says so in
its legend title (:func:`legend_below`) or, without a legend, in a corner note
(:func:`divergence_note`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import style
from ..stats import diverged_mask


def pyplot():
    """matplotlib.pyplot, with the paper style applied (once per process)."""
    style.apply_style()
    import matplotlib.pyplot as plt

    return plt


def legend_label(algorithm: str, n: int, n_div: int) -> str:
    """The algorithm's label, with "(k/N div.)" when some of its runs diverged."""
    base = style.label(algorithm)
    return f"{base} ({n_div}/{n} div.)" if n_div else base


def divergence_text(total: int, diverged: int, what: str = "runs") -> str:
    """ "k of N runs diverged", or "no runs diverged (of N)"."""
    return f"{diverged} of {total} {what} diverged" if diverged else f"no {what} diverged (of {total})"


@dataclass
class Tally:
    """Runs and diverged runs over every algorithm of a figure (for its divergence note)."""

    runs: int = 0
    diverged: int = 0


def runs_by_algorithm(
    final: pd.DataFrame, metric: str, threshold: float, algorithms: Iterable[str], tally: Tally
) -> Iterator[tuple[str, pd.DataFrame, np.ndarray, int, int]]:
    """Per algorithm: its final rows, the mask of its diverged runs and both counts (added to ``tally``)."""
    for alg in algorithms:
        sub = final[final["algorithm"] == alg]
        div = diverged_mask(sub, metric, threshold)
        n, n_div = len(sub), int(div.sum())
        tally.runs += n
        tally.diverged += n_div
        yield alg, sub, div, n, n_div


def legend_below(ax, note: str | None = None, ncol: int = 2) -> None:
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


def plain_log_ticks(ax, axis: str = "y") -> None:
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


def divergence_note(fig, total: int, diverged: int, what: str = "runs") -> None:
    """For figures without a legend: the divergence count in the top-left corner of the figure."""
    fig.text(0.01, 0.99, divergence_text(total, diverged, what), fontsize=5.5, ha="left", va="top", color="#333333")

"""What every figure kind shares: its context (:class:`FigureContext`: options, named inputs and
loaders for them) and drawing helpers (pyplot with the paper style, legends, divergence notes).

Diverged runs are never dropped silently: every kind counts them (:class:`Tally`) and says so in
its legend title (:func:`legend_below`) or, without a legend, in a corner note
(:func:`divergence_note`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import style
from ..loading import experiment_of, read_finals
from ..metrics import default_metric, divergence_threshold, infer_dataset
from ..stats import (
    DEFAULT_SEED,
    N_RESAMPLES,
    THREE_BATCHED,
    THREE_BATCHED_SOURCE,
    diverged_mask,
    with_random_3batched,
)


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


# ------------------------------------------------------------------ what a renderer gets
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


@dataclass(frozen=True)
class FigureContext:
    """One configured figure: its kind, name, options and named inputs (see :mod:`.registry`)."""

    kind: str
    name: str
    options: Mapping[str, Any]
    inputs: Mapping[str, Sequence[str]]
    experiments_config: Mapping[str, Any] | None = None
    cells: Mapping[str, Sequence[int] | None] | None = None

    def paths(self, key: str) -> list[str]:
        """The input files named ``key`` (``final``, ``scalars``, ``bayesopt_scalars``, ``hypergradients``)."""
        return list(self.inputs.get(key, []))

    def opt(self, key: str, default: Any) -> Any:
        """An option, ``default`` when it is missing or null."""
        value = self.options.get(key, default)
        return default if value is None else value

    @property
    def experiments(self) -> list[str]:
        """The experiments drawn: those of the inputs, else the ``experiments`` option."""
        files = self.paths("final") or self.paths("scalars")
        return [experiment_of(p) for p in files] or list(self.options.get("experiments", []))

    @property
    def seed(self) -> int:
        return int(self.opt("seed", DEFAULT_SEED))

    @property
    def n_resamples(self) -> int:
        return int(self.opt("n_resamples", N_RESAMPLES))

    @property
    def algorithms(self) -> Sequence[str] | None:
        """The ``algorithms`` option (a filter), or None."""
        return self.options.get("algorithms")

    def metric(self, error: bool = False) -> tuple[str, str]:
        """(dataset, metric): the ``metric`` option, else the dataset's default (test error if ``error``)."""
        return resolve_metric(self.experiments, self.options, self.experiments_config, error=error)

    def metric_and_threshold(self) -> tuple[str, float]:
        """The metric and its divergence threshold on the figure's dataset."""
        dataset, metric = self.metric()
        return metric, divergence_threshold(dataset, metric)

    def load_final(self) -> pd.DataFrame:
        """The final values, with Random (3-batched) derived unless ``three_batched: false``, filtered."""
        algorithms = self.algorithms
        f = read_finals(self.paths("final"))
        if algorithms:
            f = f[f["algorithm"].isin(list(algorithms) + [THREE_BATCHED_SOURCE] * (THREE_BATCHED in algorithms))]
        if self.opt("three_batched", True):
            f = with_random_3batched(f, int(self.opt("three_batched_seed", DEFAULT_SEED)))
        if algorithms:
            f = f[f["algorithm"].isin(list(algorithms))]
        return f

    def filtered(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` restricted to the ``algorithms`` option (unchanged without one)."""
        return frame[frame["algorithm"].isin(list(self.algorithms))] if self.algorithms else frame

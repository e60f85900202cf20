"""The figure kinds: one entry per kind with the inputs it reads, its report caption and its renderer.

This is the one place a figure kind is declared.  rules/figures.smk wires a figure's named inputs
from ``inputs`` (through :mod:`onepass.analysis.targets`), the report shows ``caption`` (through
:mod:`onepass.analysis.captions`), and :func:`build_figure` (the one entry point of the figure
rule) calls the renderer and writes PDF + CSV sidecar.  Standard library only at import time (the
renderer, pandas and matplotlib are imported when a figure is drawn), so the rule files can read the
registry while Snakemake resolves the DAG.

Named inputs: ``final`` (``results/scalars/<exp>_final.csv``), ``scalars`` (``<exp>.parquet``),
``bayesopt_scalars`` (the BayesOpt experiments' parquet files) and ``hypergradients``
(``results/hypergradients/<comparison>.csv``).  Caption fields: ``{name}``, ``{metric}``,
``{experiments}``, ``{seed}``, ``{scale}``, ``{algorithm}``, ``{hyperparameter}``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

INPUT_NAMES = ("final", "scalars", "bayesopt_scalars", "hypergradients")

_BAND = "the band is the 2.5-97.5 percentile range of that median over 1000 seeded bootstrap resamples of the runs"


@dataclass(frozen=True)
class FigureKind:
    """One figure kind: what it reads, how the report describes it, which function draws it."""

    name: str
    inputs: tuple[str, ...]  # named inputs it reads, from INPUT_NAMES
    caption: str  # report caption (str.format fields: see the module docstring)
    renderer: str  # "<module>.<function>" in onepass.analysis.figures: f(FigureContext) -> (figure, stats)

    def render(self, context: Any) -> tuple[Any, Any]:
        """Import the renderer and draw the figure: ``(matplotlib figure, statistics DataFrame)``."""
        module, _, function = self.renderer.partition(".")
        return getattr(importlib.import_module(f"{__package__}.{module}"), function)(context)


FIGURE_KINDS: dict[str, FigureKind] = {
    k.name: k
    for k in [
        FigureKind(
            "CDF",
            ("final",),
            "Empirical CDF of the final {metric} over all runs of each algorithm ({experiments}). Diverged "
            "runs stay in the denominator, so a curve ends below 1 at the fraction of finite runs; the "
            "legend counts them. Random (3-batched) keeps, per seeded triple of Random_Validation runs, "
            "the lowest final validation loss.",
            "cdf.render_cdf",
        ),
        FigureKind(
            "CDF_Error",
            ("final",),
            "Empirical CDF of the final test error (1 - accuracy) per algorithm ({experiments}); runs "
            "whose loss diverged are counted in the legend and end the curve below 1.",
            "cdf.render_cdf_error",
        ),
        FigureKind(
            "Envelope",
            ("final", "scalars"),
            "Median {metric} over runs against the network weight-update step ({experiments}); "
            + _BAND
            + ". Diverged runs are excluded and counted in the legend.",
            "envelope.render",
        ),
        FigureKind(
            "HPOCurves",
            ("final", "scalars", "bayesopt_scalars"),
            "Best {metric} seen so far against elapsed wall time, median over runs ({experiments}); "
            + _BAND
            + ". Best-so-far selects by the test metric, i.e. an oracle selection, as in the paper. "
            "Bayesian Optimisation repetitions concatenate their trials in time.",
            "hpo_curves.render",
        ),
        FigureKind(
            "Runtime",
            ("final",),
            "Violins of per-run training time in seconds (excluding evaluation; the wall time is in "
            "the final CSV as wall_seconds) per algorithm ({experiments}); o = mean, x = median. Only runs "
            "with a finite final metric are shown; diverged runs are counted on the axis labels.",
            "runtime.render",
        ),
        FigureKind(
            "LR",
            ("final", "scalars"),
            "Learning-rate schedule of every algorithm from one shared initialisation (seed {seed}, "
            "{experiments}); per-parameter learning rates (HDLR) are shown as their mean with the 5-95% "
            "quantile band.",
            "lr.render",
        ),
        FigureKind(
            "Sensitivity",
            ("final",),
            "Median final {metric} x{scale} over runs for {algorithm} at each update interval T and "
            "look-back distance i ({experiments}); the colour scale is shared with the other sensitivity "
            "heatmaps, and the single cell is the Random reference. Diverged runs are excluded and counted.",
            "sensitivity.render",
        ),
        FigureKind(
            "Hypergradients",
            ("hypergradients",),
            "Accuracy of the Neumann (look-back i) hypergradient against the exact one "
            "(differentiating through the last i steps) for the {hyperparameter}, at each update interval "
            "T and look-back i. Left: the paper's metric, the relative error of the first Adam(lr 0.05) "
            "step (mean over seeds; mostly sign agreement). Right: the raw relative hypergradient error "
            "abs(neumann - exact) / abs(exact) (median over seeds).",
            "hypergradients.render",
        ),
        FigureKind(
            "ProofOfConcept",
            ("final", "scalars"),
            "Learning-rate and weight-decay trajectories of 20 Ours (WD+LR) runs (start o, end "
            "square) over a GP-interpolated landscape of final {metric} of the Random runs (log10 final "
            "loss regressed on log10 initial lr and wd; diverged/NaN runs set to 150, labelled NaN).",
            "proof_of_concept.render",
        ),
    ]
}


def figure_kind(kind: str, name: str = "?") -> FigureKind:
    """The registry entry of ``kind`` (a ValueError naming the figure and the known kinds if none)."""
    if kind not in FIGURE_KINDS:
        raise ValueError(f"figure {name!r}: unknown kind {kind!r} (known: {', '.join(FIGURE_KINDS)})")
    return FIGURE_KINDS[kind]


def kinds_reading(input_name: str) -> frozenset[str]:
    """The kinds that read the named input (e.g. every kind reading ``scalars``)."""
    return frozenset(k.name for k in FIGURE_KINDS.values() if input_name in k.inputs)


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

    ``inputs`` maps the kind's named inputs (``final`` / ``scalars`` / ``bayesopt_scalars`` /
    ``hypergradients``, see the module docstring) to file paths, as rules/figures.smk passes them;
    ``cells`` gives the (T, i) of grid experiments (Sensitivity).  Returns the sidecar statistics.
    """
    from ..loading import atomic_savefig, atomic_write_csv  # drawing needs pandas and matplotlib
    from .common import FigureContext, pyplot

    entry = figure_kind(kind, name)
    plt = pyplot()
    context = FigureContext(kind, name, options, inputs, experiments_config, cells)
    fig, stats = entry.render(context)
    try:
        atomic_write_csv(stats, csv_path)
        atomic_savefig(fig, pdf_path)
    finally:
        plt.close(fig)
    return stats

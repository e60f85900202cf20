"""Build one configured figure: look its kind up in the registry, draw it, write PDF + CSV sidecar."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..loading import atomic_savefig, atomic_write_csv
from .common import pyplot
from .context import FigureContext
from .registry import figure_kind


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
    ``hypergradients``, see :mod:`.registry`) to file paths, as rules/figures.smk passes them;
    ``cells`` gives the (T, i) of grid experiments (Sensitivity).  Returns the sidecar statistics.
    """
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

"""The table kinds: one entry per kind with its report caption and whether it reads per-step scalars.

Standard library only: rules/tables.smk reads it (through :mod:`onepass.analysis.targets` and
:mod:`onepass.analysis.captions`) while Snakemake resolves the DAG.  Every kind is built by the
same :func:`onepass.analysis.tables.build_table`; a kind fixes the default metric (the dataset's,
or the test error) and the caption.  Caption fields: ``{name}``, ``{metric}``, ``{experiments}``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableKind:
    """One table kind."""

    name: str
    caption: str
    error: bool = False  # default metric: the test error (1 - accuracy) instead of the dataset's metric
    needs_scalars: bool = False  # reads <exp>.parquet too (the best error is 1 - max accuracy over steps)


TABLE_KINDS: dict[str, TableKind] = {
    k.name: k
    for k in [
        TableKind(
            "AverageResults",
            "Mean and median of the final {metric} per algorithm with bootstrap standard errors "
            "(1000 seeded resamples) and the best value over all logged steps ({experiments}). "
            "Bold: within one error of the best. Diverged runs are counted in the table note.",
        ),
        TableKind(
            "AverageErrors",
            "Mean and median of the final test error (1 - accuracy) per algorithm with bootstrap "
            "standard errors (1000 seeded resamples) and the best error over all logged steps "
            "({experiments}). Diverged runs are counted in the table note.",
            error=True,
            needs_scalars=True,
        ),
    ]
}

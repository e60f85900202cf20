"""Figures: one module per figure kind, registered in :mod:`.registry`, built by :func:`build_figure`.

- :mod:`.registry`: every kind with the inputs it reads, its report caption and its renderer
  (standard library only: the Snakemake rule files read it while resolving the DAG);
- :mod:`.build`: :func:`build_figure` looks the kind up, calls its renderer with a
  :class:`~.context.FigureContext` (:mod:`.context`: options, inputs, metric and loaders), and
  writes ``<Name>.pdf`` plus the ``<Name>.csv`` sidecar atomically;
- one module per kind, each with a ``<kind>_figure(data...) -> (figure, stats)`` function that
  draws already-loaded data and a ``render(context)`` that loads it: :mod:`.cdf` (CDF, CDF_Error),
  :mod:`.envelope`, :mod:`.hpo_curves`, :mod:`.runtime`, :mod:`.lr`, :mod:`.sensitivity`,
  :mod:`.hypergradients`, :mod:`.proof_of_concept`;
- :mod:`.common`: shared drawing helpers (paper style, legends, divergence notes, log ticks).

Diverged runs are never dropped silently: they are counted in the sidecar (``n_runs``,
``n_diverged``) and shown in the figure.  Names below are imported on first use (PEP 562), so
importing the registry does not import matplotlib or pandas.
"""

from __future__ import annotations

from ...lazy import lazy_attributes

# Public names -> defining module (imported on first use).
_LAZY = {
    "build_figure": ".registry",
    "FigureContext": ".common",
    "resolve_metric": ".common",
    "FigureKind": ".registry",
    "FIGURE_KINDS": ".registry",
    "figure_kind": ".registry",
    "cdf_figure": ".cdf",
    "envelope_figure": ".envelope",
    "hpo_curves_figure": ".hpo_curves",
    "runtime_figure": ".runtime",
    "lr_figure": ".lr",
    "parse_cell": ".sensitivity",
    "sensitivity_cells": ".sensitivity",
    "sensitivity_figure": ".sensitivity",
    "DEFAULT_CELL_PATTERNS": ".sensitivity",
    "adam_first_step": ".hypergradients",
    "hypergradient_errors": ".hypergradients",
    "hypergradients_figure": ".hypergradients",
    "proof_of_concept_figure": ".proof_of_concept",
}


__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = sorted(_LAZY)

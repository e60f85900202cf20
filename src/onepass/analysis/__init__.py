"""Analysis of aggregated results: statistics, figures and tables.

Submodules are imported lazily: ``datasets``, ``metrics``, ``captions``, ``style``, ``targets`` and
the kind registries (``figures.registry``, ``tables.registry``) import no pandas or matplotlib so
the Snakemake rule files can use them while resolving the DAG; the ``figures`` and ``tables``
packages pull in matplotlib/seaborn/scikit-learn only when a figure or table is built.
"""

from __future__ import annotations

__all__ = ["captions", "datasets", "figures", "loading", "metrics", "stats", "style", "tables", "targets"]

"""Analysis of aggregated results: statistics, figures and tables.

Submodules are imported lazily: ``metrics``, ``captions`` and ``style`` are standard-library
only so the Snakemake rule files can use them while resolving the DAG; ``figures`` and
``tables`` pull in matplotlib/seaborn/scikit-learn only when a figure is drawn.
"""

from __future__ import annotations

__all__ = ["captions", "figures", "loading", "metrics", "stats", "style", "tables"]

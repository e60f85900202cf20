"""Facts the analysis needs about a dataset, read from its package YAML (one place per dataset).

Each ``src/onepass/configs/datasets/<id>.yaml`` carries, beside its training settings, a
``report:`` mapping and the top-level ``divergence_threshold``::

    divergence_threshold: 1000.0     # training setting; the analysis reuses it
    report:
      label: Fashion-MNIST           # column headers, captions
      metric: Loss/Test              # the metric reported by default
      divergence_metrics: Loss/      # divergence_threshold applies to metrics with this prefix
      table_scale: 1000              # tables show values × this (Kin8nm only)
      bayesopt_penalty: 3.0          # BayesOpt objective of a diverged trial is -penalty

:func:`dataset_facts` is the one accessor (cached). A dataset given as a path to its YAML is read the
same way; any other unknown id gets :data:`DEFAULTS`, labelled with its id.  Standard library and
PyYAML only: the Snakemake rule files reach this module while the DAG is resolved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .config import load_dataset_config, package_dataset_ids

REPORT_KEYS = ("label", "metric", "divergence_metrics", "table_scale", "bayesopt_penalty")


@dataclass(frozen=True)
class DatasetFacts:
    """How one dataset is reported."""

    id: str
    label: str  # pretty name (``Fashion-MNIST``)
    metric: str  # default metric tag (``Loss/Test``); errors use ``Error/Test`` instead
    divergence_threshold: float = math.inf  # final values strictly above count as diverged ...
    divergence_metrics: str = ""  # ... for metrics whose tag starts with this ("" : none)
    table_scale: float = 1.0  # tables show values × this
    bayesopt_penalty: float | None = None  # the authors' penalty of a diverged BayesOpt trial

    def threshold_for(self, metric: str) -> float:
        """Divergence threshold of ``metric`` on this dataset (``inf``: only non-finite values diverge)."""
        if self.divergence_metrics and metric.startswith(self.divergence_metrics):
            return self.divergence_threshold
        return math.inf


#: Facts of a dataset without a package YAML (the label is its id).
DEFAULTS = DatasetFacts(id="", label="", metric="Loss/Test")


@cache
def dataset_facts(dataset: str) -> DatasetFacts:
    """The report facts of a dataset id (``uci_energy``) or dataset YAML path, from that YAML."""
    is_file = dataset.endswith((".yaml", ".yml")) and Path(dataset).is_file()
    if dataset not in package_dataset_ids() and not is_file:
        return DatasetFacts(id=dataset, label=dataset, metric=DEFAULTS.metric)
    config = load_dataset_config(dataset)
    report = dict(config.get("report") or {})
    unknown = sorted(set(report) - set(REPORT_KEYS))
    if unknown:
        raise ValueError(f"dataset config {dataset}: report: unknown key(s) {unknown}; allowed: {list(REPORT_KEYS)}")
    threshold = config.get("divergence_threshold")
    penalty = report.get("bayesopt_penalty")
    return DatasetFacts(
        id=dataset,
        label=str(report.get("label", dataset)),
        metric=str(report.get("metric", DEFAULTS.metric)),
        divergence_threshold=math.inf if threshold is None else float(threshold),
        divergence_metrics=str(report.get("divergence_metrics", "")),
        table_scale=float(report.get("table_scale", 1.0)),
        bayesopt_penalty=None if penalty is None else float(penalty),
    )


def bayesopt_penalty(dataset: str) -> float | None:
    """The authors' BayesOpt penalty for a diverged trial on ``dataset`` (None: they had none)."""
    return dataset_facts(dataset).bayesopt_penalty


def bayesopt_penalties() -> dict[str, float]:
    """Every package dataset with a default BayesOpt penalty, and that penalty."""
    facts = (dataset_facts(d) for d in package_dataset_ids())
    return {f.id: f.bayesopt_penalty for f in facts if f.bayesopt_penalty is not None}

"""Which metric each dataset is judged on, its axis label and divergence threshold.

The per-dataset facts (label, default metric, threshold, table scale) live in the dataset YAMLs
and are read through :func:`onepass.training.dataset_facts`; this module keeps the
metric names and labels and works out which dataset an experiment belongs to.  No heavy imports
on purpose: the Snakemake rule files import this module to build captions while the DAG is
resolved (``snakemake -n`` on the paper grid must stay fast).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..datasets import DATASET_IDS  # the package-wide list (onepass.datasets imports no heavy modules)
from ..training.dataset_facts import dataset_facts

#: Derived metric: classification error = 1 - Accuracy/Test.
ERROR_METRIC = "Error/Test"

METRIC_LABELS: dict[str, str] = {
    "Unnormalised_Loss/Test": "Test MSE (Unnormalised)",
    "Loss/Test": "Test Cross-Entropy",
    "Perplexity/Test": "Test Perplexity",
    ERROR_METRIC: "Test Error",
    "Loss/Validation": "Validation Loss",
    "Loss/Training": "Training Loss",
}

METRIC_SHORT: dict[str, str] = {
    "Unnormalised_Loss/Test": "MSE",
    "Loss/Test": "CE",
    "Perplexity/Test": "Perplexity",
    ERROR_METRIC: "Error",
}


def infer_dataset(experiment: str, experiments_config: Mapping[str, object] | None = None) -> str:
    """Dataset id of an experiment: the config's ``dataset`` key, else the id in its name.

    A grid cell (``Sensitivity_T3_i5``) inherits its parent's ``dataset``.  Names such as
    ``BayesOpt_uci_energy`` or ``uci_energy_ValidationProportion0.25`` contain
    the id; the longest id found wins so that no id shadows another.
    """
    if experiments_config:
        # the experiment itself, else the grid experiment it is a cell of (Sensitivity_T3_i5)
        parents = [k for k in experiments_config if experiment == k or experiment.startswith(f"{k}_")]
        for key in sorted(parents, key=len, reverse=True):
            entry = experiments_config.get(key)
            if isinstance(entry, Mapping) and isinstance(entry.get("dataset"), str):
                return str(entry["dataset"])
    found = [d for d in DATASET_IDS if d in experiment]
    if not found:
        raise ValueError(
            f"cannot infer the dataset of experiment {experiment!r}: its name contains no dataset id "
            f"({', '.join(DATASET_IDS)}) and config 'experiments' gives no 'dataset'; "
            "set the figure/table option 'metric' explicitly"
        )
    return max(found, key=len)


def default_metric(dataset: str, error: bool = False) -> str:
    """The paper's metric for a dataset (its YAML's ``report.metric``), or the test error."""
    if error:
        return ERROR_METRIC
    return dataset_facts(dataset).metric


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def divergence_threshold(dataset: str, metric: str) -> float:
    """Final values strictly above this count as diverged (besides non-finite ones).

    The dataset YAML's ``divergence_threshold``, for metrics starting with its
    ``report.divergence_metrics`` (Fashion-MNIST: ``Loss/``; Penn Treebank: ``Perplexity/``).
    """
    return dataset_facts(dataset).threshold_for(metric)


def default_scale(experiment: str) -> float:
    """Table scale of an experiment named after its dataset (``uci_kin8nm...``: ×1000, as the paper)."""
    prefixes = [d for d in DATASET_IDS if experiment.startswith(d)]
    return dataset_facts(max(prefixes, key=len)).table_scale if prefixes else 1.0


def pretty_experiment(experiment: str, dataset: str | None = None) -> str:
    """Human column header: ``uci_energy_ValidationProportion0.25`` -> ``Energy ValidationProportion0.25``."""
    try:
        dataset = dataset or infer_dataset(experiment)
    except ValueError:
        return experiment
    rest = experiment.replace(dataset, "", 1).strip("_").replace("_", " ")
    base = dataset_facts(dataset).label
    return f"{base} {rest}".strip() if rest else base

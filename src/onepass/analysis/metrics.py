"""Which metric each dataset is judged on, its axis label and divergence threshold.

Pure standard library on purpose: the Snakemake rule files import this module to build
captions while the DAG is resolved (``snakemake -n`` on the paper grid must stay fast).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..datasets import DATASET_IDS  # the package-wide list (onepass.datasets imports no heavy modules)

PRETTY_DATASET: dict[str, str] = {
    "uci_boston": "Boston",
    "uci_concrete": "Concrete",
    "uci_energy": "Energy",
    "uci_kin8nm": "Kin8nm",
    "uci_naval": "Naval",
    "uci_power": "Power",
    "uci_wine": "Wine",
    "uci_yacht": "Yacht",
    "fashion_mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "penn_treebank": "Penn Treebank",
}

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

#: Final losses above this count as diverged (the authors' threshold): Fashion-MNIST cross-entropy.
FASHION_MNIST_LOSS_THRESHOLD = 1e3
#: Perplexities above this count as diverged (our choice; the authors had no PTB threshold).
PERPLEXITY_THRESHOLD = 1e5


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
    """The paper's metric for a dataset: MSE for UCI, perplexity for PTB, CE else."""
    if error:
        return ERROR_METRIC
    if dataset.startswith("uci_"):
        return "Unnormalised_Loss/Test"
    if dataset == "penn_treebank":
        return "Perplexity/Test"
    return "Loss/Test"


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def divergence_threshold(dataset: str, metric: str) -> float:
    """Final values strictly above this count as diverged (besides non-finite ones)."""
    if metric == "Perplexity/Test":
        return PERPLEXITY_THRESHOLD
    if dataset.startswith("fashion_mnist") and metric.startswith("Loss/"):
        return FASHION_MNIST_LOSS_THRESHOLD
    return math.inf


def default_scale(experiment: str) -> float:
    """Kin8nm MSEs are tiny, so the paper shows them ×1000 (as the authors' statistics did)."""
    return 1000.0 if experiment.startswith("uci_kin8nm") else 1.0


def pretty_experiment(experiment: str, dataset: str | None = None) -> str:
    """Human column header: ``uci_energy_ValidationProportion0.25`` -> ``Energy ValidationProportion0.25``."""
    try:
        dataset = dataset or infer_dataset(experiment)
    except ValueError:
        return experiment
    rest = experiment.replace(dataset, "", 1).strip("_").replace("_", " ")
    base = PRETTY_DATASET.get(dataset, dataset)
    return f"{base} {rest}".strip() if rest else base

"""Which metric each dataset is judged on, its axis label and divergence threshold.

The per-dataset facts (label, default metric, threshold, table scale) live in the dataset YAMLs
and are read through :func:`onepass.training.dataset_facts`; this module keeps the
metric names and labels and looks up which dataset an experiment belongs to: in the pipeline, from
the ``dataset`` of the experiments' config entries each figure and table job receives.  No heavy imports
on purpose: the Snakemake rule files import this module to build captions while the DAG is
resolved (``snakemake -n`` on the paper grid must stay fast).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..datasets.registry import DATASET_IDS  # the registry's ids (standard library and PyYAML only)
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
    """Dataset id of an experiment: the ``dataset`` of its entry in ``experiments_config``.

    The figure and table jobs receive the config entries of the experiments they draw (the plan's
    experiment -> dataset mapping), so in the pipeline the answer is always looked up, never guessed:
    a grid cell (``Sensitivity_T3_i5``) takes its parent's ``dataset``, and an experiment the mapping
    does not know is an error. Only standalone use without a mapping falls back to the dataset id in
    the name (``BayesOpt_uci_energy``; the longest id found wins so that no id shadows another).
    """
    if experiments_config:
        # the experiment itself, else the grid experiment it is a cell of (Sensitivity_T3_i5)
        parents = [k for k in experiments_config if experiment == k or experiment.startswith(f"{k}_")]
        for key in sorted(parents, key=len, reverse=True):
            entry = experiments_config.get(key)
            if isinstance(entry, Mapping) and isinstance(entry.get("dataset"), str):
                return str(entry["dataset"])
        raise ValueError(
            f"experiment {experiment!r} has no 'dataset' in config 'experiments' "
            f"(known: {', '.join(experiments_config)}); set the figure/table option 'metric' explicitly"
        )
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


def default_scale(dataset: str) -> float:
    """Table scale of a dataset's values (its YAML's ``report.table_scale``: Kin8nm ×1000, as the paper)."""
    return dataset_facts(dataset).table_scale


def pretty_experiment(experiment: str, dataset: str | None = None) -> str:
    """Human column header: ``uci_energy_ValidationProportion0.25`` -> ``Energy ValidationProportion0.25``."""
    try:
        dataset = dataset or infer_dataset(experiment)
    except ValueError:
        return experiment
    rest = experiment.replace(dataset, "", 1).strip("_").replace("_", " ")
    base = dataset_facts(dataset).label
    return f"{base} {rest}".strip() if rest else base

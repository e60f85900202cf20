"""The analysis's registries: algorithm styles, dataset facts (from the YAMLs), figure and table kinds."""

from __future__ import annotations

import importlib
import math
import subprocess
import sys
from pathlib import Path

import pytest

from onepass.analysis import style
from onepass.analysis.metrics import default_metric, default_scale, divergence_threshold, pretty_experiment
from onepass.datasets import DATASET_IDS
from onepass.training.algorithms import ALGORITHMS
from onepass.training.dataset_facts import bayesopt_penalties, bayesopt_penalty, dataset_facts

DERIVED = ("Random_3Batched", "BayesOpt", "ASHA_Random", "ASHA_Ours_LR_Momentum", "PBT_Random", "PBT_Ours_LR_Momentum")


def test_every_algorithm_has_one_style_entry_in_the_training_order():
    trained = [name for name in style.ALGORITHM_ORDER if name in ALGORITHMS]
    assert trained == list(ALGORITHMS), "style.STYLES must list every trained algorithm, in ALGORITHMS order"
    assert set(style.ALGORITHM_ORDER) == set(ALGORITHMS) | set(DERIVED)
    assert all(name == entry.name for name, entry in style.STYLES.items())


def test_style_lookups_and_unknown_algorithms():
    assert style.label("Random_SteppedLR") == "Random (×LR)"
    assert style.latex_label("Random_SteppedLR") == r"Random ($\times$LR)"
    assert style.line_kwargs("Ours_LR_Momentum") == {
        "color": "#D55E00",
        "linestyle": "-",
        "linewidth": 1.6,
        "label": "Ours (WD+LR+M)",
    }
    assert (style.label("My_Alg"), style.colour("My_Alg"), style.marker("My_Alg")) == ("My_Alg", "#444444", ".")
    assert style.latex_label("My_Alg") == r"My\_Alg"
    assert style.order(["Zed", "BayesOpt", "Random", "Abc"]) == ["Random", "BayesOpt", "Abc", "Zed"]


UCI = [d for d in DATASET_IDS if d.startswith("uci_")]
LABELS = {
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


@pytest.mark.parametrize("dataset", DATASET_IDS)
def test_dataset_facts_are_the_values_the_analysis_used_before_the_yamls(dataset):
    """The values the code held before they moved into the YAMLs' report sections."""
    facts = dataset_facts(dataset)
    assert facts.label == LABELS[dataset] and pretty_experiment(f"{dataset}_X") == f"{LABELS[dataset]} X"
    metric = (
        "Unnormalised_Loss/Test" if dataset in UCI else {"penn_treebank": "Perplexity/Test"}.get(dataset, "Loss/Test")
    )
    assert default_metric(dataset) == metric and default_metric(dataset, error=True) == "Error/Test"
    for tag in ("Unnormalised_Loss/Test", "Loss/Test", "Loss/Validation", "Perplexity/Test", "Error/Test"):
        expected = math.inf
        if dataset == "fashion_mnist" and tag.startswith("Loss/"):
            expected = 1e3
        if dataset == "penn_treebank" and tag.startswith("Perplexity/"):
            expected = 1e5
        assert divergence_threshold(dataset, tag) == expected, tag
    assert default_scale(dataset) == (1000.0 if dataset == "uci_kin8nm" else 1.0)


def test_bayesopt_penalties_match_the_authors_constants():
    expected = {"uci_energy": 150.0, "uci_kin8nm": 0.1, "uci_power": 400.0, "fashion_mnist": 3.0}
    assert bayesopt_penalties() == expected
    assert bayesopt_penalty("uci_boston") is None
    # the BayesOpt baseline reads the same facts
    from onepass.baselines.bayesopt.space import BayesOptError, default_penalty

    assert {dataset: default_penalty(dataset) for dataset in expected} == expected
    with pytest.raises(BayesOptError, match="no default penalty for dataset 'uci_boston'"):
        default_penalty("uci_boston")


def test_unknown_dataset_and_yaml_path(tmp_path):
    facts = dataset_facts("not_a_dataset")
    assert (facts.label, facts.metric, facts.threshold_for("Loss/Test"), facts.table_scale) == (
        "not_a_dataset",
        "Loss/Test",
        math.inf,
        1.0,
    )
    assert default_scale("not_a_dataset") == 1.0
    path = tmp_path / "my_lm.yaml"
    path.write_text(
        "dataset: my_lm\ndivergence_threshold: 50\n"
        "report: {label: My LM, metric: Perplexity/Test, divergence_metrics: Perplexity/}\n"
    )
    facts = dataset_facts(str(path))
    assert (facts.label, facts.metric, facts.threshold_for("Perplexity/Test")) == ("My LM", "Perplexity/Test", 50.0)
    bad = tmp_path / "bad.yaml"
    bad.write_text("report: {colour: red}\n")
    with pytest.raises(ValueError, match="unknown key"):
        dataset_facts(str(bad))


def test_figure_and_table_kind_registries_are_complete():
    import yaml

    from onepass.analysis.figures.registry import FIGURE_KINDS, INPUT_NAMES, figure_kind
    from onepass.analysis.tables.registry import TABLE_KINDS

    schema = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflow/schemas/figures.schema.yaml").read_text())

    def kind_enum(definition: str) -> list[str]:
        (kinds,) = [part["properties"]["kind"]["enum"] for part in schema["$defs"][definition]["allOf"]
                    if "kind" in part.get("properties", {})]  # fmt: skip
        return kinds

    # the schema accepts exactly the registered kinds: a kind missing there is refused at config
    # check, one only there passes the check and fails in the job
    assert sorted(kind_enum("figure")) == sorted(FIGURE_KINDS)
    assert sorted(kind_enum("table")) == sorted(TABLE_KINDS)
    for entry in FIGURE_KINDS.values():
        assert entry.inputs and set(entry.inputs) <= set(INPUT_NAMES)
        module, _, function = entry.renderer.partition(".")
        assert callable(getattr(importlib.import_module(f"onepass.analysis.figures.{module}"), function))
        assert entry.caption.strip()
    with pytest.raises(ValueError, match="unknown kind 'Nope'"):
        figure_kind("Nope", "X")


def test_registries_import_no_plotting_or_dataframes():
    """The rule files import these while Snakemake parses the workflow: keep them light."""
    code = (
        "import sys; import onepass.analysis.targets, onepass.analysis.captions, onepass.analysis.style; "
        "print(sorted(m for m in ('pandas', 'matplotlib', 'numpy', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

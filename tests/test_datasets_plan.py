"""The data rules' planning functions (onepass.datasets.plan) on the registry's sources."""

from __future__ import annotations

import re

import pytest

from onepass.datasets import SourceConfigError, load_sources, plan

SOURCES_PATH = "the dataset registry"  # how rules/data.smk names the sources in error messages
SOURCES = load_sources()


def test_wildcard_patterns():
    uci = re.compile(f"^(?:{plan.ids_pattern(SOURCES, 'uci')})$")
    assert uci.match("uci_energy") and not uci.match("cifar10") and not uci.match("uci_energyX")
    every = re.compile(f"^(?:{plan.ids_pattern(SOURCES)})$")
    assert all(every.match(d) for d in SOURCES)
    names = re.compile(f"^(?:{plan.raw_names_pattern(SOURCES)})$")
    assert names.match("data.txt") and names.match("cifar-10-python.tar.gz") and not names.match("dataXtxt")
    nothing = re.compile(f"^(?:{plan.ids_pattern(SOURCES, 'no_such_kind')})$")
    assert not nothing.match("") and not nothing.match("uci_energy")


def test_each_dataset_has_exactly_one_preprocess_rule():
    """`preprocess` takes the kinds writing data.pt and targets.pt, `preprocess_text` those that
    also write a vocabulary: every dataset matches one of the two, none both (rules/data.smk)."""
    tensors = re.compile(f"^(?:{plan.ids_writing(SOURCES, 'data.pt', 'targets.pt')})$")
    text = re.compile(f"^(?:{plan.ids_writing(SOURCES, 'data.pt', 'targets.pt', 'vocab.txt')})$")
    matched = {d: (bool(tensors.match(d)), bool(text.match(d))) for d in SOURCES}
    assert matched.pop("penn_treebank") == (False, True)
    assert set(matched.values()) == {(True, False)}  # the UCI sets, Fashion-MNIST and CIFAR-10


def test_inputs_outputs_and_params():
    assert plan.dataset_outputs(SOURCES, "penn_treebank", SOURCES_PATH) == [
        "resources/data/penn_treebank/data.pt",
        "resources/data/penn_treebank/targets.pt",
        "resources/data/penn_treebank/vocab.txt",
    ]
    assert plan.raw_inputs(SOURCES, "uci_naval", SOURCES_PATH) == {
        "data": "resources/raw/uci_naval/data.txt",
        "permutation": "resources/raw/uci_naval/permutation_indices.txt",
    }
    params = plan.raw_file_params(SOURCES, "uci_naval", "data.txt", SOURCES_PATH)
    assert params["key"] == "data" and params["mirror"] == "uci/naval-propulsion-plant/data.txt"
    # where the entry is written, for the job's error messages: stable, whatever the checkout's path
    assert (params["sources"], params["entry"]) == ("onepass/configs/datasets/uci_naval.yaml", "source")
    assert params["sha256"] == SOURCES["uci_naval"].files["data"].sha256
    with pytest.raises(SourceConfigError, match="dataset uci_naval has no raw file 'vocab.txt'"):
        plan.raw_file_params(SOURCES, "uci_naval", "vocab.txt", SOURCES_PATH)
    assert plan.dataset_params(SOURCES, "uci_naval", SOURCES_PATH)["options"]["drop_columns"] == [18]


def test_experiment_datasets():
    experiments = {"a": {"dataset": "uci_power"}, "b": {"dataset": "cifar10"}, "c": {"dataset": "uci_power"}}
    assert plan.experiment_datasets(SOURCES, experiments, SOURCES_PATH) == ["cifar10", "uci_power"]
    assert plan.data_targets(SOURCES, experiments, SOURCES_PATH) == [
        "resources/data/cifar10/data.pt",
        "resources/data/cifar10/targets.pt",
        "resources/data/uci_power/data.pt",
        "resources/data/uci_power/targets.pt",
    ]
    assert plan.data_targets(SOURCES, {}, SOURCES_PATH) == [] and plan.data_targets(SOURCES, None, "s") == []
    with pytest.raises(SourceConfigError, match=r"experiments\.x\.dataset: 'mnist' is not a dataset of"):
        plan.experiment_datasets(SOURCES, {"x": {"dataset": "mnist"}}, SOURCES_PATH)
    with pytest.raises(SourceConfigError, match=r"experiments\.y\.dataset is missing"):
        plan.experiment_datasets(SOURCES, {"y": {"algorithms": []}}, SOURCES_PATH)

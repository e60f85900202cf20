"""The dataset registry: one package YAML per dataset, from which every other view is derived."""

from __future__ import annotations

import pytest
from fixtures_datasets import REPO

from onepass.datasets import DATASET_IDS, RegistryError, load_sources
from onepass.datasets.registry import DATA_SECTIONS, dataset_document, dataset_section
from onepass.pipeline.catalog import load_catalog
from onepass.training.config import DEFAULTS, build_config, package_dataset_ids
from onepass.training.dataset_facts import dataset_facts

FOLDER = REPO / "src" / "onepass" / "configs" / "datasets"


def test_the_ids_are_the_registry_file_names():
    assert list(DATASET_IDS) == sorted(p.stem for p in FOLDER.glob("*.yaml"))
    assert len(DATASET_IDS) == 11 and package_dataset_ids() == list(DATASET_IDS)
    # each view of the datasets lists exactly the registry's ids, in its order
    assert list(load_sources()) == list(load_catalog()) == list(DATASET_IDS)


@pytest.mark.parametrize("dataset", DATASET_IDS)
def test_one_file_describes_the_whole_dataset(dataset):
    """Training settings, report facts, raw sources and job resources, each read by its consumer."""
    document = dataset_document(dataset)
    assert document["dataset"] == dataset
    assert {"report", "source", "resources"} <= set(document)
    assert load_sources()[dataset].kind == document["source"]["kind"]
    assert load_catalog()[dataset]["chunk_size"] == document["resources"].get("chunk_size", 200)
    assert dataset_facts(dataset).label == document["report"]["label"]
    # training ignores the data sections, as it ignores report: (no unknown-key error, nothing kept)
    config = build_config(dataset)
    assert not set(DATA_SECTIONS) & set(config) and set(config) == set(DEFAULTS)


def test_a_dataset_yaml_given_by_path_may_carry_the_data_sections(tmp_path):
    """`onepass train --dataset-config my.yaml` accepts a copy of a registry YAML as it is."""
    path = tmp_path / "my_energy.yaml"
    path.write_text((FOLDER / "uci_energy.yaml").read_text())
    assert build_config(str(path)) == build_config("uci_energy")


def test_an_unknown_dataset_names_the_file_to_add():
    with pytest.raises(RegistryError, match=r"no dataset 'mnist' in the registry .* add .*/datasets/mnist\.yaml"):
        dataset_document("mnist")
    assert dataset_section("uci_energy", "no_such_section") is None


def test_one_reader_parses_each_dataset_once_and_hands_out_copies(monkeypatch):
    """Training settings, `source:` and `resources:` of a dataset come from one parse of its file."""
    from onepass.datasets import registry
    from onepass.training.config import load_dataset_config

    calls = []
    original = registry.load_unique_yaml
    monkeypatch.setattr(registry, "load_unique_yaml", lambda *a: calls.append(a[1]) or original(*a))
    registry._registered.cache_clear()
    first = load_dataset_config("uci_energy")
    first["model"]["hidden_sizes"] = [999]  # a caller's edit must not reach the next reader
    assert dataset_section("uci_energy", "source")["kind"] == "uci"
    assert load_dataset_config("uci_energy")["model"]["hidden_sizes"] == [50]
    assert calls == ["onepass/configs/datasets/uci_energy.yaml"]
    registry._registered.cache_clear()


def test_a_users_dataset_file_gets_the_registry_s_words(tmp_path):
    from onepass.training.config import ConfigError, load_dataset_config

    path = tmp_path / "mine.yaml"
    path.write_text("dataset: a\ndataset: b\n")
    with pytest.raises(ConfigError, match="mine.yaml.*dataset.*twice|twice.*dataset"):
        load_dataset_config(path)
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mine.yaml: expected a mapping of settings and sections, got list"):
        load_dataset_config(path)

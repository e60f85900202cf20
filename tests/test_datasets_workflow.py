"""The data rules through real Snakemake runs in temporary copies of the workflow."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from fixtures_datasets import (
    PTB_IDS,
    PTB_VOCAB,
    REPO,
    pt_files,
    sha256,
    shared_mirror,
    tiny_sources,
    write_tiny_mirror,
    write_tiny_ptb,
    write_yaml,
)

pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--nolock", *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        pytest.fail(f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def copy_workflow(dest: Path) -> Path:
    """The repository's workflow (Snakefile, rules, scripts, config) in a fresh folder."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "rules", "workflow", "config", "environment.yml"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / name)
    return dest


def data_only_workflow(dest: Path, experiments: dict) -> Path:
    """Just rules/data.smk (and its scripts) under a minimal Snakefile, with the given experiments."""
    (dest / "rules").mkdir(parents=True)
    shutil.copy2(REPO / "rules" / "data.smk", dest / "rules" / "data.smk")
    shutil.copytree(REPO / "workflow" / "scripts", dest / "workflow" / "scripts")
    (dest / "Snakefile").write_text('configfile: "config.yaml"\n\ninclude: "rules/data.smk"\n')
    write_yaml(dest / "config.yaml", {"data_mirror": None, "experiments": experiments})
    return dest


def test_snakemake_builds_one_uci_dataset(tmp_path):
    mirror = shared_mirror()
    work = copy_workflow(tmp_path / "wf")
    snakemake(work, "resources/data/uci_energy/data.pt", "--config", f"data_mirror={mirror}")

    data = torch.load(work / "resources/data/uci_energy/data.pt", weights_only=True)
    targets = torch.load(work / "resources/data/uci_energy/targets.pt", weights_only=True)
    raw = np.loadtxt(mirror / "uci/energy/data.txt")[np.loadtxt(mirror / "uci/permutation_indices_Energy.txt", int)]
    np.testing.assert_array_equal(data.numpy(), raw[:, :-1].astype(np.float32))
    np.testing.assert_array_equal(targets.numpy(), raw[:, -1:].astype(np.float32))
    # Only that dataset was built; each rule left a log and a benchmark.
    assert sorted(p.name for p in (work / "resources/data").iterdir()) == ["uci_energy"]
    assert sorted(p.name for p in (work / "resources/raw/uci_energy").iterdir()) == [
        "data.txt",
        "permutation_indices.txt",
    ]
    assert (work / "logs/data/preprocess/uci_energy.log").is_file()
    assert (work / "logs/data/fetch_raw/uci_energy/data.txt.log").is_file()
    assert (work / "results/benchmarks/data/preprocess/uci_energy.tsv").is_file()
    assert "verified" in (work / "logs/data/fetch_raw/uci_energy/data.txt.log").read_text()


def test_data_target_builds_exactly_the_config_datasets(tmp_path):
    experiments = {
        "a": {"dataset": "uci_yacht"},
        "b": {"dataset": "uci_energy"},
        "c": {"dataset": "uci_yacht"},
    }
    work = data_only_workflow(tmp_path / "wf", experiments)
    result = snakemake(work, "-n", "data")  # the sources of the package's dataset registry
    planned = {
        line.split("wildcards: dataset=")[1].split(",")[0]
        for line in result.stdout.splitlines()
        if "wildcards: dataset=" in line
    }
    assert planned == {"uci_energy", "uci_yacht"}
    # one rule `preprocess` for the kinds writing data.pt and targets.pt only (UCI and images)
    assert "rule preprocess:" in result.stdout and "fetch_raw" in result.stdout
    # (An experiment naming an unknown dataset: see test_datasets_plan.test_experiment_datasets.)


def test_snakemake_builds_tiny_archives(tmp_path):
    mirror = tmp_path / "mirror"
    write_tiny_mirror(mirror)
    sources = write_yaml(tmp_path / "tiny_sources.yaml", tiny_sources(mirror))
    experiments = {name: {"dataset": name} for name in ("fashion_mnist", "cifar10", "penn_treebank")}
    work = data_only_workflow(tmp_path / "wf", experiments)
    snakemake(work, "data", "--config", f"sources={sources}", f"data_mirror={mirror}")

    out = work / "resources" / "data"
    load = lambda d, f: torch.load(out / d / f, weights_only=True)  # noqa: E731
    assert load("fashion_mnist", "data.pt").shape == (5, 784) and load("fashion_mnist", "data.pt").dtype == torch.uint8
    assert load("fashion_mnist", "targets.pt").tolist() == [9, 0, 3, 1, 7]
    assert load("cifar10", "data.pt").shape == (13, 3, 32, 32) and load("cifar10", "targets.pt").dtype == torch.int64
    assert load("penn_treebank", "data.pt").tolist() == PTB_IDS
    assert (out / "penn_treebank" / "vocab.txt").read_text().splitlines() == PTB_VOCAB
    assert sha256(work / "resources/raw/cifar10/cifar-10-python.tar.gz") == sha256(
        mirror / "cifar10/cifar-10-python.tar.gz"
    )


def test_snakemake_failures_leave_no_outputs(tmp_path):
    mirror = tmp_path / "mirror"
    write_tiny_mirror(mirror)
    document = tiny_sources(mirror)
    document["datasets"]["cifar10"]["files"]["archive"]["sha256"] = "b" * 64  # wrong checksum
    # A PTB archive whose test split has a token outside the vocabulary (checksum recorded).
    write_tiny_ptb(
        mirror / "penn_treebank/simple-examples.tgz", {"train": " a b \n", "valid": " a \n", "test": " c \n"}
    )
    document["datasets"]["penn_treebank"]["files"]["archive"]["sha256"] = sha256(
        mirror / "penn_treebank/simple-examples.tgz"
    )
    document["datasets"]["penn_treebank"]["options"] = {}
    sources = write_yaml(tmp_path / "bad_sources.yaml", document)
    work = data_only_workflow(tmp_path / "wf", {})
    result = snakemake(
        work,
        "--keep-going",
        "resources/data/cifar10/data.pt",
        "resources/data/penn_treebank/data.pt",
        "--config",
        f"sources={sources}",
        f"data_mirror={mirror}",
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "cifar10/cifar-10-python.tar.gz: sha256 mismatch" in output and "expected " + "b" * 64 in output
    assert "ptb.test.txt:1: token 'c' is not in the training vocabulary" in output
    assert not (work / "resources/raw/cifar10/cifar-10-python.tar.gz").exists()
    assert pt_files(work / "resources") == []
    assert not (work / "resources/data/penn_treebank/vocab.txt").exists()
    log = (work / "logs/data/preprocess/penn_treebank.log").read_text()
    assert "not in the training vocabulary" in log
    assert yaml.safe_load(sources.read_text())["datasets"]["cifar10"]["kind"] == "cifar10"

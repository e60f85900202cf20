"""Shared fixtures: the repository, the venv's Snakemake, the raw-data mirror (embedded data/).

Workflow tests run the real `snakemake` in a subprocess, always with `-s <repo>/Snakefile` from a
temporary working directory: results, logs and `.snakemake/` metadata land there, so tests neither
see nor disturb results of the repository's own runs (or of colleagues working in the same tree).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_datasets import shared_mirror

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (where the Snakefile lives)."""
    return REPO_ROOT


def snakemake_command() -> list[str]:
    """The Snakemake of the project's venv, else the one of the interpreter running the tests."""
    venv_snakemake = REPO_ROOT / ".venv" / "bin" / "snakemake"
    if venv_snakemake.exists():
        return [str(venv_snakemake)]
    return [sys.executable, "-m", "snakemake"]


@pytest.fixture(scope="session")
def snakemake_cmd() -> list[str]:
    """Command prefix that starts Snakemake on this repository's Snakefile."""
    return [*snakemake_command(), "--snakefile", str(REPO_ROOT / "Snakefile")]


@pytest.fixture(scope="session")
def data_mirror() -> Path:
    """The raw-data mirror with the real UCI files (the repository's data/ unless overridden)."""
    return shared_mirror()


@pytest.fixture(scope="session")
def energy_data_dir(data_mirror: Path, tmp_path_factory) -> Path:
    """A data folder holding real UCI Energy as `uci_energy/{data,targets}.pt`.

    Preprocessed here with plain numpy (rows permuted by the paper's file, last column the target),
    independently of `onepass.datasets`, so library tests do not depend on the dataset code.
    """
    import numpy as np
    import torch

    table = np.loadtxt(data_mirror / "uci" / "energy" / "data.txt")
    table = table[np.loadtxt(data_mirror / "uci" / "permutation_indices_Energy.txt").astype(int)]
    folder = tmp_path_factory.mktemp("energy_data")
    (folder / "uci_energy").mkdir()
    torch.save(torch.tensor(table[:, :-1], dtype=torch.float32), folder / "uci_energy" / "data.pt")
    torch.save(torch.tensor(table[:, -1:], dtype=torch.float32), folder / "uci_energy" / "targets.pt")
    return folder


def run_snakemake(
    cmd: list[str], args: list[str], cwd: Path, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess:
    """Run Snakemake with `args` in `cwd`; on an unexpected exit status fail with its output."""
    result = subprocess.run(
        [*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"snakemake {' '.join(args)} exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout[-5000:]}\n--- stderr ---\n{result.stderr[-5000:]}"
        )
    return result


def job_counts(output: str) -> dict[str, int]:
    """Parse the first "job  count" table Snakemake prints for a (dry) run."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^job\s+count\s*$", line):
            counts = {}
            for row in lines[index + 2 :]:
                match = re.match(r"^(\S+)\s+(\d+)\s*$", row)
                if not match:
                    break
                counts[match.group(1)] = int(match.group(2))
            counts.pop("total", None)
            return counts
    raise AssertionError(f"no job statistics in Snakemake's output:\n{output[-3000:]}")

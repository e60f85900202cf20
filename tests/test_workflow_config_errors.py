"""A broken config stops Snakemake before any job starts, with a message naming the key.

Each case is a real (not dry) `snakemake --cores 1` run on a copy of config/test.yaml with one
mistake; afterwards the working directory must hold no results, resources or logs.
"""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import run_snakemake


def _broken(base: dict, edit) -> dict:
    config = copy.deepcopy(base)
    edit(config)
    return config


CASES = {
    "unknown algorithm": (
        lambda c: c["experiments"]["uci_energy"]["algorithms"].append("Foo"),
        ["experiments.uci_energy.algorithms[3]", "unknown algorithm 'Foo'", "Ours_LR_Momentum"],
    ),
    "negative seed count": (
        lambda c: c["experiments"]["uci_energy"].update(seeds=-3),
        ["experiments.uci_energy.seeds", "positive integer", "-3"],
    ),
    "zero seeds for one algorithm": (
        lambda c: c["experiments"]["uci_energy"].update(seeds={"default": 3, "Random": 0}),
        ["experiments.uci_energy.seeds.Random", "positive integer"],
    ),
    "missing dataset": (
        lambda c: c["experiments"]["uci_energy"].pop("dataset"),
        ["experiments.uci_energy.dataset", "missing"],
    ),
    "unknown dataset": (
        lambda c: c["experiments"]["uci_energy"].update(dataset="uci_atlantis"),
        ["experiments.uci_energy.dataset", "unknown dataset 'uci_atlantis'"],
    ),
    "figure of an unknown experiment": (
        lambda c: c["figures"].update(CDF_nowhere={"kind": "CDF", "experiments": ["nowhere"]}),
        ["figures.CDF_nowhere.experiments[0]", "unknown experiment 'nowhere'"],
    ),
    "misspelt experiment key (schema)": (
        lambda c: c["experiments"]["uci_energy"].update(overides={"lookback": 3}),
        ["experiments.uci_energy", "overides"],
    ),
    "bad device (schema)": (
        lambda c: c.update(device="tpu"),
        ["device", "tpu"],
    ),
    "broken grid filter": (
        lambda c: c["experiments"]["Sensitivity"]["grid_where"].update(DiffThroughOpt="lookbak <= 2"),
        ["experiments.Sensitivity.grid_where.DiffThroughOpt", "lookbak"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_broken_config_fails_before_any_job(repo_root, snakemake_cmd, tmp_path, case):
    edit, expected = CASES[case]
    base = yaml.safe_load((repo_root / "config/test.yaml").read_text())
    config_file = tmp_path / "broken.yaml"
    config_file.write_text(yaml.safe_dump(_broken(base, edit)))
    result = run_snakemake(
        snakemake_cmd,
        ["--cores", "1", "--configfile", str(config_file)],
        cwd=tmp_path, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for fragment in expected:
        assert fragment in output, f"{fragment!r} not in:\n{output[-3000:]}"
    for folder in ("results", "resources", "logs"):
        assert not (tmp_path / folder).exists(), f"{folder}/ was created: a job ran"
    assert "rule train" not in output and "Building DAG" not in output

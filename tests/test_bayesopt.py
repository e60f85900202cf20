"""BayesOpt baseline on real UCI Energy (tiny trainings): bounds, reproducibility, best-so-far,
divergence penalty, aggregation into the tables/HPOCurves format, CLI errors.

UCI Energy is built from the shared raw mirror with plain numpy, independently of the dataset code.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from onepass.baselines.bayesopt import (
    DEFAULT_BOUNDS,
    BayesOptError,
    aggregate_bayesopt,
    run_bayesopt,
    trial_seed,
)

torch.set_num_threads(1)  # tiny models: one thread is fastest, and the suite shares 2 cores
REPO = Path(__file__).resolve().parents[1]
NEEDS_BAYES_OPT = pytest.mark.skipif(
    importlib.util.find_spec("bayes_opt") is None,
    reason="bayesian-optimization is not installed (extra: pip install .[bayesopt])",
)
TINY = {"hyperparameter_steps": 3}  # 30 weight steps per trial
T_H = 30


@pytest.fixture(scope="module")
def data_dir(energy_data_dir: Path) -> Path:
    """Real UCI Energy tensors (tests/conftest.py)."""
    return energy_data_dir


@pytest.fixture(scope="module")
def repetitions(data_dir, tmp_path_factory):
    """Two repetitions x 3 trials (2 random + 1 guided), as config/test.yaml declares them."""
    pytest.importorskip("bayes_opt", reason="bayesian-optimization is not installed (extra: pip install .[bayesopt])")
    out = tmp_path_factory.mktemp("bo")
    return [
        run_bayesopt("uci_energy", r, 2, 1, data_dir, out / f"rep{r:03d}.parquet", "cpu", TINY, experiment="BO")
        for r in range(2)
    ], out


def test_every_trial_inside_the_bounds(repetitions):
    payloads, _ = repetitions
    for payload in payloads:
        assert [run["kind"] for run in payload["runs"]] == ["random", "random", "guided"]
        for run in payload["runs"]:
            for key, (low, high) in DEFAULT_BOUNDS.items():
                assert low <= run["params"][key] <= high, (key, run["params"])
            init = run["initial_hyperparameters"]  # the trainer really used the proposed values
            assert math.isclose(init["lr"], 10 ** run["params"]["lr_log10"], rel_tol=1e-12)
            assert math.isclose(init["weight_decay"], 10 ** run["params"]["weight_decay_log10"], rel_tol=1e-12)
            assert init["momentum"] == run["params"]["momentum"]
            assert run["training_seed"] == trial_seed(payload["repetition"], run["trial"])
            assert run["objective"] == -run["final_full_validation_loss"]


def test_repetitions_differ_and_a_repetition_is_reproducible(repetitions, data_dir, tmp_path):
    payloads, _ = repetitions
    assert payloads[0]["runs"][0]["params"] != payloads[1]["runs"][0]["params"]
    again = run_bayesopt("uci_energy", 1, 2, 1, data_dir, None, "cpu", TINY)
    for first, second in zip(payloads[1]["runs"], again["runs"], strict=True):
        assert first["params"] == second["params"]
        assert first["objective"] == second["objective"]


def test_outputs_follow_the_chunk_contract(repetitions):
    payloads, out = repetitions
    table = pd.read_parquet(out / "rep001.parquet")
    assert list(table.columns) == ["seed", "step", "tag", "value", "wall_time", "trial"]
    assert set(table["seed"]) == {1}
    per_step = table[~table["tag"].astype(str).str.startswith(("Last_", "BayesOpt/"))]
    for trial, rows in per_step.groupby("trial"):
        assert rows["step"].min() == trial * (T_H + 1) and rows["step"].max() == trial * (T_H + 1) + T_H
    trial_rows = table[table["tag"] == "BayesOpt/Objective"].sort_values("trial")
    assert trial_rows["value"].tolist() == [run["objective"] for run in payloads[1]["runs"]]
    assert (
        table["wall_time"].is_monotonic_increasing
        or (table.groupby("trial")["wall_time"].min().diff().dropna() > 0).all()
    )
    summary = json.loads((out / "rep001.json").read_text())
    assert summary["algorithm"] == "BayesOpt" and summary["inner_algorithm"] == "Random_Validation"
    assert summary["bayesopt"]["penalty"] == 150.0  # the authors' constant for UCI Energy
    best = summary["best"]
    tests = per_step[per_step["tag"] == "Unnormalised_Loss/Test"]["value"]
    assert best["oracle_best_test"] == pytest.approx(tests.min())
    assert best["objective"] == max(run["objective"] for run in summary["runs"])


def test_best_so_far_objective_is_monotone(repetitions):
    payloads, _ = repetitions
    for payload in payloads:
        table = payload["frame"]
        best = table[table["tag"] == "BayesOpt/Best_Objective"].sort_values("trial")["value"].to_numpy()
        objectives = [run["objective"] for run in payload["runs"]]
        assert np.all(np.diff(best) >= 0)
        np.testing.assert_allclose(best, np.maximum.accumulate(objectives))


def test_aggregation_feeds_tables_and_hpo_curves(repetitions, tmp_path):
    from onepass.analysis.figures import hpo_curves_figure
    from onepass.analysis.loading import read_final, read_scalars
    from onepass.analysis.tables import block_statistics

    payloads, out = repetitions
    files = sorted(str(p) for p in out.glob("rep*.parquet"))
    counts = aggregate_bayesopt(
        files,
        "BayesOpt_uci_energy",
        tmp_path / "BayesOpt_uci_energy.parquet",
        tmp_path / "BayesOpt_uci_energy_final.csv",
    )
    assert counts == {"repetitions": 2, "trials": 6, "rows": counts["rows"]}
    raw_final = pd.read_csv(tmp_path / "BayesOpt_uci_energy_final.csv")
    assert list(raw_final[["seed", "trial"]].itertuples(index=False, name=None)) == [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 1),
        (1, 2),
    ]
    final = read_final(tmp_path / "BayesOpt_uci_energy_final.csv")  # one row per repetition: best over its trials
    assert len(final) == 2 and set(final["algorithm"]) == {"BayesOpt"}
    for payload, (_, row) in zip(payloads, final.sort_values("seed").iterrows(), strict=True):
        assert row["best:Unnormalised_Loss/Test"] == pytest.approx(payload["best"]["oracle_best_test"])
    stats = block_statistics(final, "Unnormalised_Loss/Test", "uci_energy", value="best_so_far", n_resamples=50)
    assert stats["n_runs"].tolist() == [2] and stats["n_used"].tolist() == [2]
    scalars = read_scalars(tmp_path / "BayesOpt_uci_energy.parquet", tags=["Unnormalised_Loss/Test"])
    assert set(scalars["trial"]) == {0, 1, 2}
    fig, curve = hpo_curves_figure(scalars, "Unnormalised_Loss/Test", n_resamples=20, n_points=20)
    assert set(curve["algorithm"]) == {"BayesOpt"} and curve["n_runs"].iloc[0] == 2
    assert np.all(np.diff(curve["median"].to_numpy()) <= 1e-12)  # best so far only improves


@NEEDS_BAYES_OPT
def test_a_diverged_trial_gets_the_penalty(data_dir, tmp_path):
    payload = run_bayesopt(
        "uci_energy",
        0,
        2,
        0,
        data_dir,
        tmp_path / "rep.parquet",
        "cpu",
        {"hyperparameter_steps": 2},
        bounds={"lr_log10": [2.0, 3.0]},  # lr 100..1000: the MLP blows up within a few steps
        penalty=150.0,
    )
    for run in payload["runs"]:
        assert run["penalised"] and run["objective"] == -150.0
        assert run["status"] == "diverged" or run["final_full_validation_loss"] is None
    assert payload["best"]["objective"] == -150.0
    assert json.loads((tmp_path / "rep.json").read_text())["runs"][0]["objective"] == -150.0


@NEEDS_BAYES_OPT
def test_bad_settings_name_the_key(data_dir):
    with pytest.raises(BayesOptError, match="bounds.lr_log10"):
        run_bayesopt("uci_energy", 0, 1, 0, data_dir, None, "cpu", TINY, bounds={"lr_log10": [0, -1]})
    with pytest.raises(BayesOptError, match="overrides.lr"):
        run_bayesopt("uci_energy", 0, 1, 0, data_dir, None, "cpu", {"lr": 0.1})
    with pytest.raises(BayesOptError, match="penalty"):
        run_bayesopt("uci_boston", 0, 1, 0, data_dir, None, "cpu", TINY)


def test_cli_help_and_one_line_errors(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}

    def bayesopt(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "onepass.baselines.bayesopt", "run", *args], capture_output=True, text=True, env=env
        )

    done = bayesopt("--help")
    assert done.returncode == 0 and "--repetition" in done.stdout
    run = ("--dataset-config", "uci_energy", "--repetition", "0", "--out", str(tmp_path / "x.parquet"))
    done = bayesopt(*run, "--data-dir", str(tmp_path), "--bounds", "{bad")
    assert done.returncode == 2 and done.stderr.startswith("error: --bounds") and len(done.stderr.splitlines()) == 1
    done = bayesopt(*run, "--data-dir", str(tmp_path))
    assert done.returncode == 2 and "data.pt: missing" in done.stderr and len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "x.parquet").exists()


# ---------------------------------------------------------------- rules/hpo.smk (dry runs, no training)
def hpo_snakefile(tmp_path: Path) -> Path:
    """The repository's Snakefile if it includes rules/hpo.smk; else a copy that does (absolute paths).

    Lets the HPO rules be tested before the lead wires them into the Snakefile, and unchanged after.
    """
    snakefile = REPO / "Snakefile"
    text = snakefile.read_text()
    if "rules/hpo.smk" in text:
        return snakefile
    text = text.replace('include: "rules/', f'include: "{REPO}/rules/')
    text = text.replace('"workflow/schemas/', f'"{REPO}/workflow/schemas/')
    text = text.replace(
        f'include: "{REPO}/rules/tables.smk"\n',
        f'include: "{REPO}/rules/tables.smk"\ninclude: "{REPO}/rules/hpo.smk"\n',
    )
    text = text.replace("        SCALARS,\n", "        SCALARS,\n        HPO_TARGETS,\n")
    patched = tmp_path / "Snakefile"
    patched.write_text(text)
    return patched


def dry_run(tmp_path: Path, config: dict, target: str = "hpo", check: bool = True) -> subprocess.CompletedProcess:
    import yaml
    from conftest import snakemake_command

    config = {
        "device": "cpu",
        "tensorboard": False,
        **config,
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [*snakemake_command(), "-s", str(hpo_snakefile(tmp_path)), "-n", "--quiet", "rules"]
    done = subprocess.run(
        [*cmd, "--configfile", "config.yaml", "--", target], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


BAYESOPT_EXPERIMENT = {
    "kind": "bayesopt",
    "dataset": "uci_energy",
    "repetitions": 2,
    "random_trials": 2,
    "guided_trials": 1,
    "overrides": {"hyperparameter_steps": 3},
}
RAY_EXPERIMENT = {
    "kind": "ray",
    "enabled": False,
    "dataset": "uci_energy",
    "schedulers": ["ASHA", "PBT"],
    "num_samples": 4,
    "max_steps": 40,
    "perturbation_interval": 10,
    "cpus": 2,
    "table": "AverageResults_Ray",
    "figure": "HPOCurves_Ray",
}


def test_hpo_rules_plan_bayesopt_and_skip_disabled_ray(tmp_path):
    from conftest import job_counts

    config = {"experiments": {"BayesOpt_uci_energy": BAYESOPT_EXPERIMENT, "RayTune": RAY_EXPERIMENT}}
    counts = job_counts(dry_run(tmp_path, config).stdout)
    assert counts["bayesopt"] == 2 and counts["aggregate"] == 1  # the one aggregation rule
    assert not any(name.startswith("ray_") for name in counts)


def test_hpo_rules_plan_enabled_ray(tmp_path):
    from conftest import job_counts

    ray_on = {**RAY_EXPERIMENT, "enabled": True}
    counts = job_counts(dry_run(tmp_path, {"experiments": {"RayTune": ray_on}}).stdout)
    assert counts["ray_search"] == 4  # {ASHA, PBT} x {Random, Ours_LR_Momentum}
    assert counts["aggregate"] == counts["ray_table"] == counts["ray_figure"] == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"repetitions": 0}, "experiments.BayesOpt_uci_energy.repetitions: must be a positive integer"),
        ({"dataset": "uci_nothing"}, "experiments.BayesOpt_uci_energy.dataset: unknown dataset"),
        ({"bounds": {"lr": [-6, -1]}}, "experiments.BayesOpt_uci_energy.bounds.lr: unknown"),
        ({"trials": 3}, "experiments.BayesOpt_uci_energy.trials: unknown key"),
    ],
)
def test_hpo_config_errors_name_the_key(tmp_path, change, message):
    config = {"experiments": {"BayesOpt_uci_energy": {**BAYESOPT_EXPERIMENT, **change}}}
    done = dry_run(tmp_path, config, check=False)
    assert done.returncode != 0 and message in done.stdout + done.stderr

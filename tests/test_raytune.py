"""ASHA and PBT on real UCI Energy with tiny searches on the CPU (needs the `ray` extra).

One Ray instance (2 CPUs) serves the module. The searches: ASHA over Random and PBT over
Ours_LR_Momentum, 4 trials of 40 weight steps each (PBT perturbs every 10 steps). Checks: the searches
finish, every trial's reports are in the outputs, PBT really exploits (a trial continues from another
trial's checkpoint), and the results aggregate into the AverageResults table and HPOCurves_Ray.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

ray = pytest.importorskip("ray", reason="ray is not installed (optional extra: pip install .[ray])")
pytest.importorskip("ray.tune", reason="ray[tune] is not installed (optional extra: pip install .[ray])")

from onepass.baselines.raytune import RayTuneError, aggregate_ray, run_search  # noqa: E402

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
MAX_STEPS = 40


@pytest.fixture(scope="module")
def data_dir(energy_data_dir: Path) -> Path:
    """Real UCI Energy tensors (tests/conftest.py)."""
    return energy_data_dir


@pytest.fixture(scope="module")
def searches(data_dir, tmp_path_factory):
    """ASHA x Random and PBT x Ours_LR_Momentum in one Ray session (torn down afterwards)."""
    out = tmp_path_factory.mktemp("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        asha = run_search(
            "uci_energy",
            "ASHA",
            "Random",
            out / "ASHA_Random.parquet",
            num_samples=4,
            max_steps=MAX_STEPS,
            data_dir=data_dir,
            seed=0,
            experiment="RayTune",
        )
        pbt = run_search(
            "uci_energy",
            "PBT",
            "Ours_LR_Momentum",
            out / "PBT_Ours_LR_Momentum.parquet",
            num_samples=4,
            max_steps=MAX_STEPS,
            perturbation_interval=10,
            quantile_fraction=0.5,
            data_dir=data_dir,
            seed=0,
            experiment="RayTune",
        )
    finally:
        ray.shutdown()
    return asha, pbt, out


def test_asha_finishes_and_stops_weak_trials_early(searches):
    asha, _, out = searches
    assert asha["n_trials"] == 4 and asha["settings"]["time_attr"] == "weight_steps"
    assert all(t["error"] is None for t in asha["trials"])
    assert asha["n_reached_max_steps"] >= 1
    rows = pd.read_parquet(out / "ASHA_Random.parquet")
    assert set(rows["trial"]) == {0, 1, 2, 3}
    assert rows["iteration"].max() == MAX_STEPS and (rows["iteration"] % 10 == 0).all()
    assert np.isfinite(rows["unnormalised_test_loss"]).any()
    # Random keeps its initial hyperparameters for the whole trial
    assert (rows.groupby("trial")["lr"].nunique() == 1).all()
    summary = json.loads((out / "ASHA_Random.json").read_text())
    assert summary["name"] == "ASHA_Random" and summary["inner_algorithm"] == "Random_Validation"


def test_pbt_exploits_checkpoints_of_other_trials(searches):
    _, pbt, out = searches
    assert pbt["n_trials"] == 4 and all(t["error"] is None for t in pbt["trials"])
    assert pbt["n_reached_max_steps"] == 4  # PBT never stops trials, it replaces their state
    assert pbt["n_restored_from_other_trials"] >= 1
    rows = pd.read_parquet(out / "PBT_Ours_LR_Momentum.parquet")
    ids = set(rows["trial_id"])
    restored = rows[rows["restored_from"] != ""]
    assert len(restored) and set(restored["restored_from"]) <= ids
    assert (restored["restored_from"] != restored["trial_id"]).all()
    # a restored trial continues the donor's step count instead of starting again
    first = restored.groupby("trial")["iteration"].min()
    assert (first > 10).all()
    # Ours adapts its hyperparameters within a trial
    assert (rows.groupby("trial")["lr"].nunique() > 1).any()


def test_results_aggregate_into_the_tables_and_ray_figure(searches, tmp_path):
    from onepass.analysis.ray_results import build_ray_figure
    from onepass.analysis.tables import build_table

    asha, pbt, out = searches
    files = [out / "ASHA_Random.parquet", out / "PBT_Ours_LR_Momentum.parquet"]
    counts = aggregate_ray(files, "RayTune", tmp_path / "RayTune.parquet", tmp_path / "RayTune_final.csv")
    finished = asha["n_reached_max_steps"] + pbt["n_reached_max_steps"]
    assert counts["searches"] == 2 and counts["finished_trials"] == finished
    final = pd.read_csv(tmp_path / "RayTune_final.csv")
    assert set(final["algorithm"]) == {"ASHA_Random", "PBT_Ours_LR_Momentum"}
    assert (final["steps_completed"] == MAX_STEPS).all()
    options = {"experiments": ["RayTune"], "three_batched": False, "bold": False, "n_resamples": 50}
    stats = build_table(
        "AverageResults",
        "AverageResults_Ray",
        options,
        {"final": [str(tmp_path / "RayTune_final.csv")]},
        tmp_path / "t.tex",
        tmp_path / "t.csv",
        experiments_config={"RayTune": {"dataset": "uci_energy"}},
    )
    assert stats["algorithm"].tolist() == ["ASHA_Random", "PBT_Ours_LR_Momentum"]
    assert stats["metric"].unique().tolist() == ["Unnormalised_Loss/Test"]
    ok = final[final["status"] == "ok"]
    pbt_rows = ok[ok["algorithm"] == "PBT_Ours_LR_Momentum"]["Unnormalised_Loss/Test"]
    assert stats.set_index("algorithm").loc["PBT_Ours_LR_Momentum", "median"] == pytest.approx(pbt_rows.median())
    assert "PBT" in (tmp_path / "t.tex").read_text()
    curves = build_ray_figure([tmp_path / "RayTune.parquet"], tmp_path / "f.pdf", tmp_path / "f.csv")
    assert (tmp_path / "f.pdf").stat().st_size > 0
    for _, g in curves.groupby("algorithm"):
        assert np.all(np.diff(g["best"].to_numpy()) <= 0) and np.all(np.diff(g["time_s"].to_numpy()) >= 0)


def test_bad_settings_name_the_key(data_dir, tmp_path):
    with pytest.raises(RayTuneError, match="scheduler"):
        run_search("uci_energy", "HyperBand", "Random", tmp_path / "x.parquet", num_samples=1, data_dir=data_dir)
    with pytest.raises(RayTuneError, match="perturbation_interval"):
        run_search(
            "uci_energy",
            "PBT",
            "Random",
            tmp_path / "x.parquet",
            num_samples=1,
            perturbation_interval=15,
            data_dir=data_dir,
        )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "onepass.baselines.raytune",
            "run",
            "--dataset-config",
            "uci_energy",
            "--scheduler",
            "ASHA",
            "--algorithm",
            "Lorraine",
            "--num-samples",
            "1",
            "--out",
            str(tmp_path / "x.parquet"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 2 and done.stderr.startswith("error: algorithm") and len(done.stderr.splitlines()) == 1

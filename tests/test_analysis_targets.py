"""Input wiring of the figure/table rules (onepass.analysis.targets.Planner)."""

from __future__ import annotations

import pytest

from onepass.analysis.targets import Planner, divergence_summary

CONFIG = {
    "experiments": {
        "uci_energy": {"dataset": "uci_energy"},
        "Sensitivity": {"dataset": "uci_energy", "grid": {"update_interval": [1, 2], "lookback": [1]}},
        "BayesOpt_uci_energy": {"kind": "bayesopt", "dataset": "uci_energy"},
        "BayesOpt_off": {"kind": "bayesopt", "dataset": "uci_energy", "enabled": False},
        "HypergradientComparison": {
            "kind": "hypergradient_comparison",
            "dataset": "uci_energy",
            "seeds": 3,
            "update_interval": [1, 2, 3],
        },
    },
    "figures": {
        "CDF_uci_energy": {"kind": "CDF", "experiments": ["uci_energy"]},
        "Envelope_uci_energy": {"kind": "Envelope", "experiments": ["uci_energy"]},
        "HPOCurves_uci_energy": {"kind": "HPOCurves", "experiments": ["uci_energy"]},
        "Sens": {"kind": "Sensitivity", "experiments": ["Sensitivity"], "algorithm": "DiffThroughOpt"},
        "Hypergradients_Lr": {"kind": "Hypergradients", "experiments": ["HypergradientComparison"], "seeds": [7]},
    },
    "tables": {
        "T": {
            "kind": "AverageResults",
            "experiments": ["uci_energy", "BayesOpt_uci_energy"],
            "merge": {"uci_energy": ["BayesOpt_uci_energy"]},
        },
        "E": {"kind": "AverageErrors", "experiments": ["uci_energy"]},
    },
}
CELLS = {
    "Sensitivity_T1_i1": {"update_interval": 1, "lookback": 1},
    "Sensitivity_T2_i1": {"update_interval": 2, "lookback": 1},
}


def planner(planned=lambda experiment: False):
    return Planner(
        CONFIG,
        experiment_names=lambda e: list(CELLS) if e == "Sensitivity" else [e],
        experiment_cell=lambda e: CELLS.get(e, {}),
        planned=planned,
    )


def test_inputs_by_kind():
    p = planner()
    assert p.figure_inputs("CDF_uci_energy") == {"final": ["results/scalars/uci_energy_final.csv"]}
    assert set(p.figure_inputs("Envelope_uci_energy")) == {"final", "scalars"}
    assert p.figure_inputs("Sens")["final"] == [f"results/scalars/{c}_final.csv" for c in CELLS]
    assert p.figure_cells("Sens") == {"Sensitivity_T1_i1": [1, 1], "Sensitivity_T2_i1": [2, 1]}
    assert p.figure_inputs("Hypergradients_Lr") == {
        "hypergradients": ["results/hypergradients/HypergradientComparison.csv"]
    }
    assert "scalars" in p.table_inputs("E") and "scalars" not in p.table_inputs("T")


def test_bayesopt_joins_only_when_it_can_be_made():
    assert planner().figure_inputs("HPOCurves_uci_energy")["bayesopt_scalars"] == []
    assert planner().table_skipped("T") == ["BayesOpt_uci_energy"]
    assert planner().table_inputs("T")["final"] == ["results/scalars/uci_energy_final.csv"]
    made = planner(planned=lambda experiment: experiment == "BayesOpt_uci_energy")
    assert made.figure_inputs("HPOCurves_uci_energy")["bayesopt_scalars"] == [
        "results/scalars/BayesOpt_uci_energy.parquet"
    ]
    assert made.table_skipped("T") == []
    assert not planner(planned=lambda experiment: True).available("BayesOpt_off")


def test_files_on_disk_do_not_change_the_plan(tmp_path, monkeypatch):
    """An aggregate left by an earlier run is not an input unless this config's jobs make it."""
    monkeypatch.chdir(tmp_path)
    scalars = tmp_path / "results" / "scalars"
    scalars.mkdir(parents=True)
    for name in ("BayesOpt_uci_energy.parquet", "BayesOpt_uci_energy_final.csv", "BayesOpt_off_final.csv"):
        (scalars / name).write_text("left over\n")
    assert planner().table_skipped("T") == ["BayesOpt_uci_energy"]
    assert planner().figure_inputs("HPOCurves_uci_energy")["bayesopt_scalars"] == []
    assert not planner().available("BayesOpt_off")


def test_hypergradient_settings_merge_entry_and_figure_options():
    s = planner().hypergradient_settings("HypergradientComparison")
    assert s["update_interval"] == [1, 2, 3] and s["lookbacks"] == [1, 2, 3]
    assert s["seeds"] == [7] and s["dataset_config"] == "uci_energy"
    assert planner().hypergradient_data("HypergradientComparison") == "resources/data/uci_energy/data.pt"


def test_names_and_errors():
    p = planner()
    assert p.name_pattern("figures").count("|") == len(CONFIG["figures"]) - 1
    assert Planner({}).name_pattern("tables") == "(?!x)x"
    with pytest.raises(ValueError, match="figures.Nope"):
        p.figure_spec("Nope")


def test_divergence_summary(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("algorithm,value,n_runs,n_diverged\nA,1,10,2\nA,2,10,2\nB,1,5,0\n")
    assert divergence_summary(str(path)) == "2 of 15"
    assert divergence_summary(str(tmp_path / "missing.csv")) == "n/a"


def test_each_target_is_given_only_the_experiments_it_reads():
    """A figure/table job's params hold only its own experiments, so an unrelated edit reruns nothing."""
    planner = Planner(CONFIG)
    assert list(planner.experiments_config_of("figures", "CDF_uci_energy")) == ["uci_energy"]
    assert list(planner.experiments_config_of("figures", "Sens")) == ["Sensitivity"]
    assert set(planner.experiments_config_of("tables", "T")) == {"uci_energy", "BayesOpt_uci_energy"}
    one_cell = {**CONFIG, "figures": {"C": {"kind": "CDF", "experiments": ["Sensitivity_T1_i1"]}}}
    assert list(Planner(one_cell).experiments_config_of("figures", "C")) == ["Sensitivity"]
    edited = {**CONFIG, "experiments": {**CONFIG["experiments"], "other": {"dataset": "uci_yacht"}}}
    assert Planner(edited).experiments_config_of("tables", "E") == planner.experiments_config_of("tables", "E")

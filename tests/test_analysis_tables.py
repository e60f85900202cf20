"""Tables on the aggregated fixture: statistics recomputed independently, LaTeX rules, notes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_analysis_fixtures import write_all
from test_analysis_stats import loop_bootstrap

from onepass.analysis.tables import build_table


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    r = tmp_path_factory.mktemp("tables")
    write_all(r)
    return r


def run(root, name, kind, options):
    sc = root / "results" / "scalars"
    exps = options["experiments"]
    inputs = {
        "final": [str(sc / f"{e}_final.csv") for e in exps],
        "scalars": [str(sc / f"{e}.parquet") for e in exps],
    }
    out = root / "results" / "tables"
    build_table(kind, name, {"kind": kind, **options}, inputs, out / f"{name}.tex", out / f"{name}.csv")
    return pd.read_csv(out / f"{name}.csv"), (out / f"{name}.tex").read_text()


def independent_3batched(final: pd.DataFrame, seed: int = 0) -> list[dict]:
    rv = final[final["algorithm"] == "Random_Validation"].sort_values("seed").reset_index(drop=True)
    perm = np.random.default_rng(seed).permutation(len(rv))
    chosen = []
    for t in range(len(rv) // 3):
        cands = [
            rv.loc[m]
            for m in perm[3 * t : 3 * t + 3]
            if rv.loc[m, "status"] == "ok" and math.isfinite(rv.loc[m, "Loss/Validation"])
        ]
        chosen.append(min(cands, key=lambda r: r["Loss/Validation"]).to_dict() if cands else None)
    return chosen


def test_average_results_recomputed(root):
    stats, tex = run(root, "AverageResults_UCI", "AverageResults", {"experiments": ["uci_energy", "uci_kin8nm"]})
    for exp, scale in [("uci_energy", 1.0), ("uci_kin8nm", 1000.0)]:
        f = pd.read_csv(root / f"results/scalars/{exp}_final.csv")
        block = stats[stats["block"] == exp].set_index("algorithm")
        assert (block["scale"] == scale).all()
        for alg in ["Random", "Baydin", "Ours_LR_Momentum", "Random_3Batched"]:
            if alg == "Random_3Batched":
                rows = [r for r in independent_3batched(f) if r is not None]
                n_runs = len(f[f["algorithm"] == "Random_Validation"]) // 3
            else:
                rows = [r for r in f[f["algorithm"] == alg].to_dict("records")]
                n_runs = len(rows)
            ok = [r for r in rows if r["status"] == "ok" and math.isfinite(r["Unnormalised_Loss/Test"])]
            vals = [r["Unnormalised_Loss/Test"] * scale for r in ok]
            mean, mean_err, median, median_err = loop_bootstrap(vals, 1000, seed=0)
            got = block.loc[alg]
            assert got["n_runs"] == n_runs and got["n_diverged"] == n_runs - len(ok)
            assert got["mean"] == pytest.approx(mean) and got["median"] == pytest.approx(median)
            assert got["mean_err"] == pytest.approx(mean_err) and got["median_err"] == pytest.approx(median_err)
            assert got["best"] == pytest.approx(min(r["best:Unnormalised_Loss/Test"] for r in ok) * scale)
        # bold: within one error of the column's best (mean), or equal to the column minimum (best)
        k = block["mean"].idxmin()
        assert list(block["mean_bold"]) == list(block["mean"] <= block.loc[k, "mean"] + block.loc[k, "mean_err"])
        assert list(block["best_bold"]) == list(block["best"] == block["best"].min())
    assert "Random_Validation" not in set(stats["algorithm"])
    assert r"\textbf{" in tex and "Random (3-batched)" in tex and r"Ours (WD+LR+M)" in tex
    assert "Baydin 1 of 9" in tex and r"Kin8nm ($\times$1000)" in tex
    order = [line.split(" & ")[0] for line in tex.splitlines() if line.endswith(r"\\") and " & " in line][2:]
    assert order[:4] == ["Random", r"Random ($\times$LR)", "Random (3-batched)", "Lorraine"]
    assert order[-1] == "Diff-through-Opt"


def test_average_errors_best_is_over_all_steps(root):
    stats, tex = run(root, "AverageErrors_LargeScale", "AverageErrors", {"experiments": ["fashion_mnist"]})
    lg = pd.read_parquet(root / "results/scalars/fashion_mnist.parquet")
    f = pd.read_csv(root / "results/scalars/fashion_mnist_final.csv")
    row = stats.set_index("algorithm").loc["Lorraine"]
    assert row["n_diverged"] == 1  # final loss 5e3 > 1e3 threshold
    ok = f[(f["algorithm"] == "Lorraine") & (f["Loss/Test"] <= 1e3)]
    acc = lg[(lg["algorithm"] == "Lorraine") & (lg["tag"] == "Accuracy/Test") & lg["seed"].isin(ok["seed"])]
    assert row["best"] == pytest.approx(min(1 - a for a in acc["value"]))
    assert row["median"] == pytest.approx(float(np.median(1 - ok["Accuracy/Test"])))
    assert "Error" in tex


def test_merge_and_best_so_far_without_bold(root):
    stats, tex = run(
        root,
        "AverageResults_UCI_BayesOpt",
        "AverageResults",
        {
            "experiments": ["uci_energy", "BayesOpt_uci_energy"],
            "merge": {"uci_energy": ["BayesOpt_uci_energy"]},
            "value": "best_so_far",
            "bold": False,
            "algorithms": ["Random", "Ours_LR_Momentum", "BayesOpt"],
        },
    )
    assert list(stats["algorithm"]) == ["Random", "Ours_LR_Momentum", "BayesOpt"]
    assert set(stats["block"]) == {"uci_energy"}
    assert not stats[["mean_bold", "median_bold", "best_bold"]].any().any() and r"\textbf" not in tex
    bo = pd.read_csv(root / "results/scalars/BayesOpt_uci_energy_final.csv")
    per_rep = [g["best:Unnormalised_Loss/Test"].min() for _, g in bo.groupby("seed")]
    got = stats.set_index("algorithm").loc["BayesOpt"]
    assert got["n_runs"] == 3 and got["median"] == pytest.approx(float(np.median(per_rep)))
    f = pd.read_csv(root / "results/scalars/uci_energy_final.csv")
    r = f[f["algorithm"] == "Random"]
    assert stats.set_index("algorithm").loc["Random", "mean"] == pytest.approx(r["best:Unnormalised_Loss/Test"].mean())


def test_table_errors_name_the_key(root):
    with pytest.raises(KeyError, match="experiments"):
        build_table("AverageResults", "X", {"kind": "AverageResults"}, {}, root / "x.tex", root / "x.csv")
    with pytest.raises(ValueError, match="unknown kind"):
        build_table("Median", "X", {"experiments": ["uci_energy"]}, {}, root / "x.tex", root / "x.csv")
    with pytest.raises(FileNotFoundError, match="uci_power"):
        build_table(
            "AverageResults",
            "X",
            {"experiments": ["uci_power"]},
            {"final": []},
            root / "x.tex",
            root / "x.csv",
        )


def test_the_scale_follows_the_configured_dataset_not_the_name(root, tmp_path):
    """The table job gets its experiments' config entries: Kin8nm's ×1000 applies to a Kin8nm
    experiment whatever it is called (the scale used to follow a dataset id in the name)."""
    final = pd.read_csv(root / "results/scalars/uci_kin8nm_final.csv")
    final["experiment"] = "robot_arm"
    path = tmp_path / "robot_arm_final.csv"
    final.to_csv(path, index=False)
    stats = build_table(
        "AverageResults",
        "T",
        {"kind": "AverageResults", "experiments": ["robot_arm"]},
        {"final": [str(path)]},
        tmp_path / "t.tex",
        tmp_path / "t.csv",
        experiments_config={"robot_arm": {"dataset": "uci_kin8nm"}},
    )
    assert (stats["scale"] == 1000.0).all()
    assert set(stats["header"]) == {"Kin8nm robot arm (×1000)"}

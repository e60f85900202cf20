"""Every figure kind on the small aggregated fixture: a valid PDF, and sidecar statistics that
match an independent recomputation from the aggregated files (plain loops, not our helpers)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_analysis_fixtures import write_all

from onepass.analysis.figures import build_figure

SENSITIVITY_EXPERIMENTS = [
    "Sensitivity_T1_i1",
    "Sensitivity_T1_i2",
    "Sensitivity_T2_i1",
    "Sensitivity_T2_i2",
    "Sensitivity_Random",
]
FIGURES = {
    "CDF_uci_energy": ("CDF", {}, ["uci_energy"], "f"),
    "CDF_Error_fashion_mnist": ("CDF_Error", {}, ["fashion_mnist"], "f"),
    "Envelope_uci_energy": ("Envelope", {}, ["uci_energy"], "fs"),
    "HPOCurves_uci_energy": ("HPOCurves", {}, ["uci_energy"], "fsb"),
    "Runtime_uci_energy": ("Runtime", {}, ["uci_energy"], "f"),
    "LR_uci_energy": ("LR", {}, ["uci_energy"], "fs"),
    "Sensitivity_Ours_LR_Momentum": (
        "Sensitivity",
        {"algorithm": "Ours_LR_Momentum", "dataset": "uci_energy"},
        SENSITIVITY_EXPERIMENTS,
        "f",
    ),
    "Sensitivity_DiffThroughOpt": (
        "Sensitivity",
        {"algorithm": "DiffThroughOpt", "dataset": "uci_energy"},
        SENSITIVITY_EXPERIMENTS,
        "f",
    ),
    "Hypergradients_Lr": ("Hypergradients", {}, [], "h"),
    "Hypergradients_Weight_Decay": ("Hypergradients", {}, [], "h"),
    "ProofOfConcept_uci_energy": ("ProofOfConcept", {"dataset": "uci_energy"}, ["ProofOfConcept"], "fs"),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis")
    write_all(root)
    sc = root / "results" / "scalars"
    out = root / "results" / "figures"
    for name, (kind, opts, exps, needs) in FIGURES.items():
        inputs = {}
        if "f" in needs:
            inputs["final"] = [str(sc / f"{e}_final.csv") for e in exps]
        if "s" in needs:
            inputs["scalars"] = [str(sc / f"{e}.parquet") for e in exps]
        if "b" in needs:
            inputs["bayesopt_scalars"] = [str(sc / "BayesOpt_uci_energy.parquet")]
        if "h" in needs:
            inputs["hypergradients"] = [str(root / "results/hypergradients/HypergradientComparison.csv")]
        build_figure(
            kind,
            name,
            {"kind": kind, "experiments": exps, **opts},
            inputs,
            out / f"{name}.pdf",
            out / f"{name}.csv",
        )
    return root


def sidecar(root: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(root / "results" / "figures" / f"{name}.csv")


def final(root: Path, exp: str) -> pd.DataFrame:
    return pd.read_csv(root / "results" / "scalars" / f"{exp}_final.csv")


def long(root: Path, exp: str) -> pd.DataFrame:
    return pd.read_parquet(root / "results" / "scalars" / f"{exp}.parquet")


def loop_median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_pdf_is_valid_and_sidecar_nonempty(built, name):
    pdf = (built / "results" / "figures" / f"{name}.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-64:] and len(pdf) > 2000
    assert len(sidecar(built, name)) > 0
    leftovers = [p.name for p in (built / "results" / "figures").iterdir() if ".tmp" in p.name]
    assert leftovers == []


def test_cdf_sidecar(built):
    side = sidecar(built, "CDF_uci_energy")
    f = final(built, "uci_energy")
    for alg in ["Random", "Baydin", "Ours_LR_Momentum"]:
        rows = f[f["algorithm"] == alg]
        ok = [
            v
            for v, s in zip(rows["Unnormalised_Loss/Test"], rows["status"], strict=True)
            if s == "ok" and math.isfinite(v)
        ]
        got = side[side["algorithm"] == alg].sort_values("cdf")
        assert list(got["value"]) == pytest.approx(sorted(ok))
        assert list(got["cdf"]) == pytest.approx([(k + 1) / len(rows) for k in range(len(ok))])
        assert (got["n_diverged"] == len(rows) - len(ok)).all()
    assert side.loc[side["algorithm"] == "Baydin", "n_diverged"].iloc[0] == 1
    assert "Random_Validation" not in set(side["algorithm"])
    assert side.loc[side["algorithm"] == "Random_3Batched", "n_runs"].iloc[0] == 3


def test_cdf_error_counts_a_loss_above_threshold_as_diverged(built):
    side = sidecar(built, "CDF_Error_fashion_mnist")
    f = final(built, "fashion_mnist")
    lor = side[side["algorithm"] == "Lorraine"]
    assert lor["n_diverged"].iloc[0] == 1  # its final loss is 5e3 > 1e3
    rows = f[(f["algorithm"] == "Lorraine") & (f["Loss/Test"] <= 1e3)]
    assert sorted(lor["value"]) == pytest.approx(sorted(1 - rows["Accuracy/Test"]))


def test_envelope_sidecar(built):
    side = sidecar(built, "Envelope_uci_energy")
    f = final(built, "uci_energy")
    lg = long(built, "uci_energy")
    for alg in ["Random", "Baydin"]:
        ok_seeds = set(f[(f["algorithm"] == alg) & (f["status"] == "ok")]["seed"])
        sub = lg[(lg["algorithm"] == alg) & (lg["tag"] == "Unnormalised_Loss/Test") & lg["seed"].isin(ok_seeds)]
        got = side[side["algorithm"] == alg]
        for step, med in zip(got["step"], got["median"], strict=True):
            vals = [v for v in sub.loc[sub["step"] == step, "value"] if math.isfinite(v)]
            assert med == pytest.approx(loop_median(vals))
        assert got["n_used"].iloc[0] == len(ok_seeds)
    # the band of the last step, by resampling runs one resample at a time
    ok_seeds = sorted(set(f[(f["algorithm"] == "Random") & (f["status"] == "ok")]["seed"]))
    last = lg[(lg["algorithm"] == "Random") & (lg["tag"] == "Unnormalised_Loss/Test") & (lg["step"] == 20)]
    by_seed = dict(zip(last["seed"], last["value"], strict=True))
    x = [by_seed[s] for s in ok_seeds]
    idx = np.random.default_rng(0).integers(0, len(x), size=(1000, len(x)))
    meds = [loop_median([x[j] for j in row]) for row in idx]
    row = side[(side["algorithm"] == "Random") & (side["step"] == 20)].iloc[0]
    assert row["lo"] == pytest.approx(np.percentile(meds, 2.5))
    assert row["hi"] == pytest.approx(np.percentile(meds, 97.5))
    assert row["lo"] <= row["median"] <= row["hi"]


def test_hpo_curves_end_at_the_median_best_and_include_bayesopt(built):
    side = sidecar(built, "HPOCurves_uci_energy")
    lg = long(built, "uci_energy")
    assert "BayesOpt" in set(side["algorithm"]) and "Random_Validation" not in set(side["algorithm"])
    for alg in ["Random", "Baydin"]:
        sub = lg[(lg["algorithm"] == alg) & (lg["tag"] == "Unnormalised_Loss/Test")]
        bests = [min((v if math.isfinite(v) else math.inf) for v in g["value"]) for _, g in sub.groupby("seed")]
        got = side[side["algorithm"] == alg].sort_values("time_s")
        assert got["median"].iloc[-1] == pytest.approx(loop_median(bests))
        assert list(got["median"]) == sorted(got["median"], reverse=True)  # best-so-far never rises
    bo = pd.read_parquet(built / "results/scalars/BayesOpt_uci_energy.parquet")
    bests = [g["value"].min() for _, g in bo.groupby("seed")]
    got = side[side["algorithm"] == "BayesOpt"].sort_values("time_s")
    assert got["median"].iloc[-1] == pytest.approx(loop_median(bests))
    assert got["n_runs"].iloc[0] == 3


def test_runtime_sidecar(built):
    side = sidecar(built, "Runtime_uci_energy").set_index("algorithm")
    f = final(built, "uci_energy")
    for alg in ["Random", "Baydin", "DiffThroughOpt"]:
        rows = f[(f["algorithm"] == alg) & (f["status"] == "ok")]
        t = list(rows["train_seconds"])
        assert side.loc[alg, "median"] == pytest.approx(loop_median(t))
        assert side.loc[alg, "mean"] == pytest.approx(sum(t) / len(t))
    assert side.loc["Baydin", "n_diverged"] == 1
    assert "Random_Validation" not in side.index


def test_lr_sidecar(built):
    side = sidecar(built, "LR_uci_energy")
    lg = long(built, "uci_energy")
    assert (side["seed"] == 0).all()
    for alg in ["Random", "Ours_HDLR_Momentum"]:
        ref = lg[(lg["algorithm"] == alg) & (lg["seed"] == 0) & (lg["tag"] == "Hyperparameter/Lr")].sort_values("step")
        got = side[side["algorithm"] == alg].sort_values("step")
        assert list(got["lr"]) == pytest.approx(list(ref["value"]))
    hd = side[side["algorithm"] == "Ours_HDLR_Momentum"]
    assert (hd["lr_q05"] < hd["lr"]).all() and (hd["lr"] < hd["lr_q95"]).all()


def test_sensitivity_sidecars(built):
    for alg in ["Ours_LR_Momentum", "DiffThroughOpt"]:
        side = sidecar(built, f"Sensitivity_{alg}")
        cells = side[side["role"] == "cell"]
        for T in (1, 2):
            for i in (1, 2):
                got = cells[(cells["T"] == T) & (cells["i"] == i)]
                if alg == "DiffThroughOpt" and i > T:
                    assert got.empty
                    continue
                f = final(built, f"Sensitivity_T{T}_i{i}")
                rows = f[(f["algorithm"] == alg) & (f["status"] == "ok")]
                assert got["value"].iloc[0] == pytest.approx(1000 * loop_median(list(rows["Unnormalised_Loss/Test"])))
        ref = side[side["role"] == "reference"].iloc[0]
        rf = final(built, "Sensitivity_Random")
        assert ref["value"] == pytest.approx(1000 * loop_median(list(rf["Unnormalised_Loss/Test"])))
    # one colour scale for both heatmaps
    assert sidecar(built, "Sensitivity_Ours_LR_Momentum")["vmax"].iloc[0] == pytest.approx(
        sidecar(built, "Sensitivity_DiffThroughOpt")["vmax"].iloc[0]
    )
    assert sidecar(built, "Sensitivity_DiffThroughOpt")["n_diverged"].sum() == 3


def test_hypergradient_sidecars(built):
    table = pd.read_csv(built / "results/hypergradients/HypergradientComparison.csv")
    for name, hp in [("Hypergradients_Lr", "lr"), ("Hypergradients_Weight_Decay", "weight_decay")]:
        side = sidecar(built, name)
        assert (side["hyperparameter"] == hp).all()
        for r in side.itertuples():
            sub = table[(table["T"] == r.T) & (table["i"] == r.i) & (table["hyperparameter"] == hp)]
            adam, raw = [], []
            for n, e in zip(sub["neumann"], sub["exact"], strict=True):
                sn, se = 0.05 * n / (abs(n) + 1e-8), 0.05 * e / (abs(e) + 1e-8)
                adam.append(abs(sn - se) / abs(se))
                raw.append(abs(n - e) / abs(e))
            assert r.adam_step_rel_error == pytest.approx(sum(adam) / len(adam))
            assert r.raw_rel_error_median == pytest.approx(loop_median(raw))
            assert r.raw_rel_error_mean == pytest.approx(sum(raw) / len(raw))


def test_proof_of_concept_sidecar(built):
    side = sidecar(built, "ProofOfConcept_uci_energy")
    grid = side[side["part"] == "grid"]
    assert len(grid) == 100 * 100 and (grid["value"] <= 150).all() and (grid["value"] > 0).all()
    bg = side[side["part"] == "background_run"]
    assert len(bg) == 12 and bg.loc[bg["seed"] == 3, "value"].iloc[0] == 150  # diverged -> 150
    tr = side[side["part"] == "trajectory"]
    lg = long(built, "ProofOfConcept")
    assert tr["seed"].nunique() == 12  # fewer than 20 eligible: all of them
    s0 = tr[tr["seed"] == tr["seed"].min()].sort_values("step")
    ref = lg[
        (lg["algorithm"] == "Ours_LR") & (lg["seed"] == s0["seed"].iloc[0]) & (lg["tag"] == "Hyperparameter/Lr")
    ].sort_values("step")
    assert list(s0["lr"]) == pytest.approx(list(ref["value"]))


def test_errors_name_the_problem(tmp_path, built):
    sc = built / "results" / "scalars"
    with pytest.raises(ValueError, match="unknown kind"):
        build_figure("Pie", "X", {}, {}, tmp_path / "x.pdf", tmp_path / "x.csv")
    with pytest.raises(FileNotFoundError, match="uci_energy_nope_final.csv"):
        build_figure(
            "CDF",
            "X",
            {},
            {"final": [str(sc / "uci_energy_nope_final.csv")]},
            tmp_path / "x.pdf",
            tmp_path / "x.csv",
        )
    with pytest.raises(KeyError, match="algorithm"):
        build_figure(
            "Sensitivity",
            "X",
            {},
            {"final": [str(sc / "Sensitivity_T1_i1_final.csv")]},
            tmp_path / "x.pdf",
            tmp_path / "x.csv",
        )
    assert not (tmp_path / "x.pdf").exists()


def test_all_diverged_figures_still_say_so():
    """Every run diverged: no curve can be drawn, but the legend lists each algorithm with its
    count and the figure states "N of M runs diverged" (not bare axes)."""
    from onepass.analysis.figures import cdf_figure, envelope_figure

    final = pd.DataFrame(
        {
            "algorithm": ["Random"] * 3 + ["Ours_LR_Momentum"] * 2,
            "seed": [0, 1, 2, 0, 1],
            "status": ["diverged"] * 5,
            "Unnormalised_Loss/Test": [np.nan, np.inf, np.nan, np.nan, np.nan],
        }
    )
    scalars = pd.DataFrame(
        {"algorithm": "Random", "seed": 0, "step": [0, 1], "tag": "Unnormalised_Loss/Test", "value": [1.0, np.nan]}
    )
    for fig, _ in (
        cdf_figure(final, "Unnormalised_Loss/Test"),
        envelope_figure(final, scalars, "Unnormalised_Loss/Test"),
    ):
        legend = fig.axes[0].get_legend()
        assert legend is not None
        assert legend.get_title().get_text() == "5 of 5 runs diverged"
        labels = [text.get_text() for text in legend.get_texts()]
        assert any(label.startswith("Random") and "(3/3 div.)" in label for label in labels), labels
        assert any("(2/2 div.)" in label for label in labels), labels


def test_sensitivity_heatmap_title_says_how_many_seeds_each_cell_has():
    """A reduced run (20 of the paper's 100 seeds) is labelled on the figure itself."""
    import pandas as pd

    from onepass.analysis.figures.sensitivity import sensitivity_figure

    rows = [
        {"experiment": f"Sensitivity_T{T}_i1", "algorithm": alg, "seed": seed, "status": "ok",
         "Unnormalised_Loss/Test": 1.0 + seed + T}  # fmt: skip
        for T in (1, 2)
        for alg, seeds in (("Ours_LR_Momentum", 3), ("Random", 3 if T == 2 else 0))
        for seed in range(seeds)
    ]
    fig, _ = sensitivity_figure(pd.DataFrame(rows), "Ours_LR_Momentum", "Unnormalised_Loss/Test", reference_cell=(2, 1))
    titles = [ax.get_title() for ax in fig.axes]
    assert any(title.endswith("3 seeds per cell") for title in titles), titles

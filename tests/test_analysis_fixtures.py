"""Small aggregated fixtures (results/scalars/*) for the analysis tests, plus their sanity checks.

The files follow docs/CONTRACTS.md "Aggregated outputs" so that figures and tables are tested
on exactly what the aggregation step writes.  Values are synthetic but shaped like real runs:
decaying losses, a few diverged runs (status, NaN, and a Fashion-MNIST loss above 1e3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

UCI_ALGS = [
    "Random",
    "Random_SteppedLR",
    "Random_Validation",
    "Lorraine",
    "Baydin",
    "Ours_LR",
    "Ours_LR_Momentum",
    "Ours_HDLR_Momentum",
    "DiffThroughOpt",
]
LOSS_TAGS = ("Loss/Training", "Loss/Validation", "Loss/Test", "Unnormalised_Loss/Test", "Perplexity/Test")


def _run_rows(
    alg: str,
    seed: int,
    steps: int,
    rng: np.random.Generator,
    base: float,
    classification: bool,
    diverge_at: int | None,
    speed: float,
    t0: float,
) -> list[dict]:
    rows = []
    lr0 = 10 ** rng.uniform(-4, -1)
    wd0 = 10 ** rng.uniform(-6, -3)
    rate = rng.uniform(0.05, 0.3)
    for step in range(steps + 1):
        loss = base * (0.3 + np.exp(-rate * step)) * rng.uniform(0.9, 1.1)
        if diverge_at is not None and step >= diverge_at:
            loss = np.nan
        tags = {
            "Loss/Training": loss * 0.9,
            "Loss/Validation": loss * 1.05,
            "Loss/Test": loss,
            "Hyperparameter/Lr": lr0 * (1 + 0.05 * step) if alg != "Random" else lr0,
            "Hyperparameter/Weight_Decay": wd0 * (1 + 0.02 * step),
            "Hyperparameter/Momentum": 0.5,
        }
        if classification:
            tags["Accuracy/Test"] = np.clip(1 - loss / 3, 0, 1) if np.isfinite(loss) else np.nan
        else:
            tags["Unnormalised_Loss/Test"] = loss * 10
        if alg == "Ours_HDLR_Momentum":
            tags["Hyperparameter/Lr_q05"] = tags["Hyperparameter/Lr"] * 0.5
            tags["Hyperparameter/Lr_q95"] = tags["Hyperparameter/Lr"] * 2
        for tag, v in tags.items():
            rows.append(
                {
                    "seed": seed,
                    "step": step,
                    "tag": tag,
                    "value": float(v),
                    "wall_time": t0 + step * speed,
                    "algorithm": alg,
                }
            )
        if diverge_at is not None and step >= diverge_at:
            break
    return rows


def _final_from_long(
    long: pd.DataFrame, experiment: str, status: dict[tuple[str, int], str], rng: np.random.Generator
) -> pd.DataFrame:
    rows = []
    for (alg, seed), g in long.groupby(["algorithm", "seed"], sort=True):
        g = g[~g["tag"].str.startswith("Last_")]
        last = g[g["step"] == g["step"].max()].set_index("tag")["value"]
        first = g[g["step"] == 0].set_index("tag")["value"]
        row = {
            "experiment": experiment,
            "algorithm": alg,
            "seed": int(seed),
            "status": status.get((alg, int(seed)), "ok"),
            "diverged_at_step": int(g["step"].max()) if status.get((alg, int(seed))) == "diverged" else np.nan,
            "steps_completed": int(g["step"].max()),
            "train_seconds": float(g["wall_time"].max() - g["wall_time"].min()) * rng.uniform(0.8, 0.95),
            "wall_seconds": float(g["wall_time"].max() - g["wall_time"].min()),
            "peak_memory_mb": 100.0,
            "init_lr": first.get("Hyperparameter/Lr", np.nan),
            "init_weight_decay": first.get("Hyperparameter/Weight_Decay", np.nan),
            "init_momentum": 0.5,
            "init_lr_multiplier": np.nan,
            "final_full_validation_loss": last.get("Loss/Validation", np.nan),
        }
        for tag, v in last.items():
            row[tag] = v
        for tag in LOSS_TAGS:
            vals = g.loc[g["tag"] == tag, "value"]
            if len(vals):
                row[f"best:{tag}"] = float(np.nanmin(vals)) if vals.notna().any() else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def write_experiment(
    directory: Path,
    experiment: str,
    algorithms: list[str],
    n_seeds: int,
    steps: int,
    seed: int = 0,
    classification: bool = False,
    diverged: dict | None = None,
    huge_loss: tuple[str, int] | None = None,
    base: float = 1.0,
) -> tuple[Path, Path]:
    """Write results/scalars/<experiment>{.parquet,_final.csv} under ``directory``."""
    rng = np.random.default_rng(seed)
    diverged = diverged or {}
    rows, status = [], {}
    for k, alg in enumerate(algorithms):
        for s in range(n_seeds):
            d = diverged.get((alg, s))
            if d is not None:
                status[(alg, s)] = "diverged"
            rows += _run_rows(
                alg,
                s,
                steps,
                rng,
                base * (1 + 0.1 * k),
                classification,
                d,
                speed=0.5 + 0.2 * k,
                t0=1.7e9 + 1000 * s,
            )
    long = pd.DataFrame(rows)
    if huge_loss is not None:
        alg, s = huge_loss
        m = (
            (long["algorithm"] == alg)
            & (long["seed"] == s)
            & (long["tag"] == "Loss/Test")
            & (long["step"] == long["step"].max())
        )
        long.loc[m, "value"] = 5e3
    out = directory / "results" / "scalars"
    out.mkdir(parents=True, exist_ok=True)
    final = _final_from_long(long, experiment, status, rng)
    long = long[["algorithm", "seed", "step", "tag", "value", "wall_time"]].astype({"seed": "int32", "step": "int32"})
    pq, csv = out / f"{experiment}.parquet", out / f"{experiment}_final.csv"
    long.to_parquet(pq, index=False)
    final.to_csv(csv, index=False)
    return pq, csv


def write_bayesopt(directory: Path, experiment: str, n_reps: int = 3, n_trials: int = 4, steps: int = 10) -> None:
    """BayesOpt-like aggregate: a ``trial`` column; each repetition = trials concatenated in time."""
    rng = np.random.default_rng(7)
    rows, finals = [], []
    for rep in range(n_reps):
        t = 1.7e9 + rep * 1e5
        for trial in range(n_trials):
            for step in range(steps + 1):
                loss = 10 * (0.3 + np.exp(-0.2 * step)) * rng.uniform(0.8, 1.2)
                rows.append(
                    {
                        "algorithm": "BayesOpt",
                        "seed": rep,
                        "trial": trial,
                        "step": step,
                        "tag": "Unnormalised_Loss/Test",
                        "value": loss,
                        "wall_time": t,
                    }
                )
                t += 0.3
            finals.append(
                {
                    "experiment": experiment,
                    "algorithm": "BayesOpt",
                    "seed": rep,
                    "trial": trial,
                    "status": "ok",
                    "train_seconds": 3.0,
                    "wall_seconds": 3.3,
                    "Unnormalised_Loss/Test": loss,
                    "best:Unnormalised_Loss/Test": loss * 0.9,
                }
            )
    out = directory / "results" / "scalars"
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(out / f"{experiment}.parquet", index=False)
    pd.DataFrame(finals).to_csv(out / f"{experiment}_final.csv", index=False)


def write_hypergradients(directory: Path, name: str = "HypergradientComparison", tmax: int = 3) -> Path:
    rng = np.random.default_rng(3)
    rows = []
    for T in range(1, tmax + 1):
        for i in range(1, T + 1):
            for seed in range(4):
                for hp in ("lr", "weight_decay", "momentum"):
                    exact = rng.normal()
                    rows.append(
                        {
                            "T": T,
                            "i": i,
                            "seed": seed,
                            "hyperparameter": hp,
                            "neumann": exact * rng.uniform(0.5, 1.5) * (1 if rng.random() > 0.2 else -1),
                            "exact": exact,
                        }
                    )
    path = directory / "results" / "hypergradients" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def write_all(directory: Path) -> None:
    """Every fixture experiment the figure/table tests use."""
    directory = Path(directory)
    write_experiment(
        directory,
        "uci_energy",
        UCI_ALGS,
        n_seeds=9,
        steps=20,
        seed=1,
        diverged={("Baydin", 2): 5, ("Random_Validation", 4): 8},
    )
    write_experiment(directory, "uci_kin8nm", UCI_ALGS, n_seeds=6, steps=10, seed=2, base=0.01)
    write_experiment(
        directory,
        "fashion_mnist",
        UCI_ALGS,
        n_seeds=6,
        steps=10,
        seed=3,
        classification=True,
        huge_loss=("Lorraine", 1),
    )
    for T in (1, 2):
        for i in (1, 2):
            write_experiment(
                directory,
                f"Sensitivity_T{T}_i{i}",
                ["Ours_LR_Momentum", "DiffThroughOpt"],
                n_seeds=4,
                steps=6,
                seed=10 * T + i,
                diverged={("DiffThroughOpt", 0): 3},
            )
    write_experiment(directory, "Sensitivity_Random", ["Random"], n_seeds=4, steps=6, seed=99)
    write_experiment(
        directory,
        "ProofOfConcept",
        ["Random", "Ours_LR"],
        n_seeds=12,
        steps=8,
        seed=5,
        diverged={("Random", 3): 2},
    )
    write_bayesopt(directory, "BayesOpt_uci_energy")
    write_hypergradients(directory)


def test_fixture_follows_the_contract(tmp_path):
    write_all(tmp_path)
    final = pd.read_csv(tmp_path / "results/scalars/uci_energy_final.csv")
    long = pd.read_parquet(tmp_path / "results/scalars/uci_energy.parquet")
    assert list(long.columns) == ["algorithm", "seed", "step", "tag", "value", "wall_time"]
    assert {"best:Unnormalised_Loss/Test", "train_seconds", "status"} <= set(final.columns)
    assert (final["status"] == "diverged").sum() == 2

"""Training runs on real UCI Energy: pairing, determinism, divergence, the paper's headline effect, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from onepass.training.algorithms import ALGORITHMS, get_algorithm
from onepass.training.chunk import train_chunk
from onepass.training.config import ConfigError, build_config
from onepass.training.data import prepare_data, split_sizes
from onepass.training.run import TrainingRun
from onepass.training.seeds import parse_seeds

REPO = Path(__file__).resolve().parents[1]
SHORT = {"hyperparameter_steps": 3}
torch.set_num_threads(1)  # tiny models: one thread is fastest, and the suite shares 2 cores


@pytest.fixture(scope="module")
def data_dir(energy_data_dir: Path) -> Path:
    """Real UCI Energy tensors (tests/conftest.py)."""
    return energy_data_dir


def run(data_dir: Path, algorithm: str, seed: int = 0, overrides: dict | None = None) -> TrainingRun:
    alg = get_algorithm(algorithm)
    config = build_config("uci_energy", {**SHORT, **(overrides or {})})
    data = prepare_data(config, data_dir, alg.keep_validation, torch.device("cpu"))
    return TrainingRun(config, alg, seed, data, torch.device("cpu"))


def test_energy_split_matches_the_paper(data_dir):
    assert split_sizes(768, 76, 0.11272) == (614, 78, 76)
    config = build_config("uci_energy")
    data = prepare_data(config, data_dir, True, torch.device("cpu"))
    assert (len(data.train), len(data.validation), len(data.test)) == (614, 78, 76)
    # standardised on train+validation (unbiased std), test rows untouched in order
    trainval = torch.cat([data.train.inputs, data.validation.inputs])
    torch.testing.assert_close(trainval.mean(0), torch.zeros(8), atol=1e-5, rtol=0)
    torch.testing.assert_close(trainval.std(0), torch.ones(8), atol=1e-5, rtol=0)
    merged = prepare_data(config, data_dir, False, torch.device("cpu"))
    assert merged.validation is None and len(merged.train) == 692


def test_same_seed_pairs_weights_and_hyperparameters_across_algorithms(data_dir):
    runs = [
        run(data_dir, name, seed=3)
        for name in ("Random", "Baydin", "Ours_LR_Momentum", "Ours_HDLR_Momentum", "DiffThroughOpt")
    ]
    first = runs[0]
    for other in runs[1:]:
        assert other.initial == first.initial
        for (k, a), (_, b) in zip(first.model.state_dict().items(), other.model.state_dict().items()):
            assert torch.equal(a, b), k
    different = run(data_dir, "Random", seed=4)
    assert different.initial != first.initial
    assert not torch.equal(next(different.model.parameters()), next(first.model.parameters()))
    lo, hi = -6, -1
    assert 10**lo <= first.initial.lr <= 10**hi and 1e-7 <= first.initial.weight_decay <= 1e-2
    assert 0 <= first.initial.momentum <= 1 and 0.95 <= first.initial.lr_multiplier <= 1.01


@pytest.mark.parametrize(
    "algorithm", ["Random_SteppedLR", "Ours_LR_Momentum", "Ours_HDLR_Momentum", "DiffThroughOpt", "Baydin"]
)
def test_same_seed_twice_is_bit_identical(data_dir, algorithm):
    a = run(data_dir, algorithm, seed=1).run()
    b = run(data_dir, algorithm, seed=1).run()
    cols = ["seed", "step", "tag", "value"]
    pd.testing.assert_frame_equal(a.frame[cols], b.frame[cols])
    assert a.final == b.final and a.status == b.status == "ok"


def test_every_algorithm_logs_the_contract_tags(data_dir):
    for name in ALGORITHMS:
        overrides = {}
        if name.startswith("LongDiffThroughOpt"):
            continue  # pinned long windows; covered below with a short dataset config
        result = run(data_dir, name, overrides=overrides).run()
        tags = set(result.frame["tag"])
        steps = 10 * 3 if name != "Baydin" else 30
        per_step = result.frame[result.frame.tag == "Loss/Test"]
        assert list(per_step.step) == list(range(steps + 1)), name
        assert {
            "Loss/Training",
            "Loss/Validation",
            "Unnormalised_Loss/Test",
            "Hyperparameter/Lr",
            "Last_Hyperparameter/Lr",
        } <= tags
        val = result.frame[result.frame.tag == "Loss/Validation"].value
        # Baydin logs its second *training* stream as "validation", like the authors (docs/FIDELITY.md, "Baydin")
        assert val.isna().all() == (name in ("Random", "Random_SteppedLR")), name
        if name == "Ours_HDLR_Momentum":
            assert {"Hyperparameter/Lr_q05", "Hyperparameter/Lr_q95"} <= tags
        lr = result.frame[result.frame.tag == "Hyperparameter/Lr"].value.to_numpy()
        changes = name not in ("Random", "Random_Validation", "Lorraine")
        assert (np.ptp(lr) > 0) == changes, name


def test_long_diff_through_opt_resets_weights_and_tracks_whole_window(data_dir):
    config = build_config("uci_energy")
    alg = get_algorithm("LongDiffThroughOpt_UCI_Standalone")
    data = prepare_data(config, data_dir, True, torch.device("cpu"))
    training = TrainingRun(config, alg, 0, data, torch.device("cpu"))
    assert (training.T, training.H, training.engine.lookback) == (200, 30, 200)
    start = [p.detach().clone() for p in training.engine.params]
    training.run_window()
    for p, q in zip(training.engine.params, start):
        assert torch.equal(p, q)  # back at the initial weights after the hyperparameter step
    assert training.engine.hyperparameter_steps == 1
    assert training.engine.buffers is not None  # momentum buffers are not reset, as in the authors' code


def test_ours_beats_random_from_a_poor_initialisation(data_dir):
    """The paper's headline effect on real UCI Energy, 4000 steps, lr=1e-5, wd=1e-6, momentum 0.5."""
    settings = {"lr": 1e-5, "weight_decay": 1e-6, "momentum": 0.5, "hyperparameter_steps": 400}
    random = run(data_dir, "Random", overrides=settings).run()
    ours = run(data_dir, "Ours_LR_Momentum", overrides=settings).run()
    assert random.status == ours.status == "ok"
    assert ours.final["Loss/Test"] < 0.2 * random.final["Loss/Test"], (ours.final, random.final)
    assert ours.final["Hyperparameter/Lr"] > 10 * 1e-5


def test_divergence_is_recorded_and_does_not_stop_other_seeds(data_dir, tmp_path):
    out = tmp_path / "chunk.parquet"
    results = train_chunk(
        "uci_energy",
        "Random",
        [0, 1],
        out,
        data_dir=data_dir,
        device="cpu",
        overrides=["hyperparameter_steps=3", "lr=1e3", "lr_clip=null", "momentum=0.9"],
        progress=False,
    )
    assert [r.status for r in results] == ["diverged", "diverged"]
    assert all(r.diverged_at_step is not None and r.diverged_at_step < 30 for r in results)
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["runs"][0]["status"] == "diverged"
    assert all(v is None or np.isfinite(v) for v in summary["runs"][0]["final"].values())
    ok = train_chunk(
        "uci_energy",
        "Random",
        [0],
        tmp_path / "ok.parquet",
        data_dir=data_dir,
        device="cpu",
        overrides=["hyperparameter_steps=3"],
        progress=False,
    )
    assert ok[0].status == "ok"


def test_fixed_lr_outside_clipping_fails_after_first_window_like_the_paper(data_dir):
    result = run(data_dir, "Random", overrides={"lr": 1e-2, "lr_clip": [-10.0, -3.0]}).run()
    assert result.status == "diverged" and result.diverged_at_step == 10 and "lr_clip" in result.reason


def test_chunk_outputs_follow_the_contract(data_dir, tmp_path):
    out = tmp_path / "runs" / "seeds000-001.parquet"
    train_chunk(
        "uci_energy",
        "Ours_LR",
        [0, 1],
        out,
        data_dir=data_dir,
        device="cpu",
        overrides=["hyperparameter_steps=2"],
        experiment="exp",
        progress=False,
    )
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["seed", "step", "tag", "value", "wall_time"]
    assert str(frame.seed.dtype) == "int32" and str(frame.step.dtype) == "int32"
    assert sorted(frame.seed.unique()) == [0, 1]
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["algorithm"] == "Ours_LR" and summary["experiment"] == "exp"
    # what bit-for-bit agreement with another result depends on: torch and the processor
    environment = summary["environment"]
    assert environment["torch"] == torch.__version__ and environment["device"] == "cpu"
    assert environment["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and environment["cpu"]
    run0 = summary["runs"][0]
    assert set(run0) >= {
        "seed",
        "status",
        "initial_hyperparameters",
        "final",
        "train_seconds",
        "peak_memory_mb",
        "final_full_validation_loss",
    }
    assert 0 < run0["train_seconds"] <= run0["wall_seconds"]
    assert not list(out.parent.glob(".*tmp"))


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("0,3,5") == [0, 3, 5]
    assert parse_seeds("7") == [7]
    assert parse_seeds("0-1,10") == [0, 1, 10]
    for bad in ("", "a", "3-1", "1,1"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="unknown config key 'lookbak'"):
        build_config("uci_energy", ["lookbak=3"])
    with pytest.raises(ConfigError, match="'update_interval'.*positive integer"):
        build_config("uci_energy", ["update_interval=0"])
    with pytest.raises(ConfigError, match="unknown dataset 'uci_nope'"):
        build_config("uci_nope")
    with pytest.raises(ConfigError, match="'validation_proportion'"):
        build_config("uci_energy", {"validation_proportion": 1.5})


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "onepass", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_cli_runs_and_bad_input_fails_cleanly(data_dir, tmp_path):
    good = cli(
        "train",
        "--dataset-config",
        "uci_energy",
        "--algorithm",
        "Ours_LR_Momentum",
        "--seeds",
        "0-1",
        "--out",
        str(tmp_path / "ok.parquet"),
        "--data-dir",
        str(data_dir),
        "--device",
        "cpu",
        "--quiet",
        "--set",
        "hyperparameter_steps=2",
        "lr=1e-3",
        cwd=tmp_path,
    )
    assert good.returncode == 0, good.stderr
    frame = pd.read_parquet(tmp_path / "ok.parquet")
    lr0 = frame[(frame.tag == "Hyperparameter/Lr") & (frame.step == 0)].value
    assert np.allclose(lr0, 1e-3)  # explicit initial lr applied to every seed
    cases = {
        "unknown algorithm": (["--algorithm", "Foo"], "unknown algorithm 'Foo'"),
        "missing data": (["--algorithm", "Random", "--data-dir", str(tmp_path / "nowhere")], "data.pt: missing"),
        "bad key": (["--algorithm", "Random", "--set", "lookbak=3"], "unknown config key 'lookbak'"),
    }
    for name, (extra, message) in cases.items():
        out = tmp_path / f"{name.replace(' ', '_')}.parquet"
        base = ["train", "--dataset-config", "uci_energy", "--seeds", "0", "--out", str(out), "--quiet"]
        if "--data-dir" not in extra:
            base += ["--data-dir", str(data_dir)]
        result = cli(*base, *extra, cwd=tmp_path)
        assert result.returncode == 2, name
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], (name, result.stderr)
        assert not out.exists() and not out.with_suffix(".json").exists()
    malformed = tmp_path / "broken.yaml"
    malformed.write_text("dataset: uci_energy\ntask: [regression\n")
    result = cli(
        "train",
        "--dataset-config",
        str(malformed),
        "--algorithm",
        "Random",
        "--seeds",
        "0",
        "--out",
        str(tmp_path / "m.parquet"),
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "not valid YAML" in result.stderr
    helptext = cli("train", "--help", cwd=tmp_path).stdout
    for option in (
        "--dataset-config",
        "--algorithm",
        "--seeds",
        "--out",
        "--device",
        "--set",
        "--init-weights",
        "lookback=5",
        "update_interval=10",
    ):
        assert option in helptext


def test_init_weights_warm_start(data_dir, tmp_path):
    donor = run(data_dir, "Random", seed=5)
    path = tmp_path / "weights.pt"
    torch.save(donor.model.state_dict(), path)
    config = build_config("uci_energy", SHORT)
    alg = get_algorithm("Ours_LR")
    data = prepare_data(config, data_dir, True, torch.device("cpu"))
    warm = TrainingRun(config, alg, 0, data, torch.device("cpu"), init_weights=path)
    for a, b in zip(warm.model.parameters(), donor.model.parameters()):
        assert torch.equal(a, b)
    assert warm.initial == run(data_dir, "Random", seed=0).initial  # hyperparameters still from seed 0


def test_hypergradient_comparison_table(data_dir):
    from onepass.studies.hypergradient_comparison import comparison_table

    table = comparison_table("uci_energy", [1, 4], [1, 2, 6], [0, 1], data_dir=data_dir)
    assert set(zip(table["T"], table["i"])) == {(1, 1), (4, 1), (4, 2)}  # only cells with i <= T
    assert len(table) == 3 * 2 * 3
    one_term = table[table.i == 1]
    # a one-term Neumann series *is* the exact derivative through one unrolled step
    np.testing.assert_allclose(one_term.neumann, one_term.exact, rtol=1e-4, atol=1e-9)
    first = table[(table["T"] == 1) & (table.hyperparameter == "momentum")]
    assert (first.neumann == 0).all() and (first.exact == 0).all()  # no momentum on the very first step
    two = table[(table.i == 2) & (table.hyperparameter == "lr")]
    assert not np.allclose(two.neumann, two.exact, rtol=1e-3)  # an approximation beyond one step


def test_tensorboard_events_match_the_parquet(data_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "chunk.parquet"
    train_chunk(
        "uci_energy", "Ours_LR", [2], out, data_dir=data_dir, device="cpu",
        overrides=["hyperparameter_steps=4"], tensorboard_dir=tmp_path / "tb", progress=False,
    )  # fmt: skip
    events = EventAccumulator(str(tmp_path / "tb" / "seed2"))
    events.Reload()
    frame = pd.read_parquet(out)
    assert set(events.Tags()["scalars"]) == set(frame.tag.unique())
    for tag in ("Loss/Test", "Hyperparameter/Lr", "Last_Hyperparameter/Weight_Decay"):
        rows = frame[frame.tag == tag]
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == rows.step.tolist()
        np.testing.assert_allclose([s.value for s in scalars], rows.value, rtol=1e-6)  # TensorBoard stores float32


@pytest.mark.parametrize("algorithm", ["Ours_LR_Momentum", "Ours_HDLR_Momentum", "Baydin", "Random_SteppedLR"])
def test_last_hyperparameters_are_the_values_in_effect_during_each_window(data_dir, algorithm):
    """`Last_Hyperparameter/*` at index h: the value used by steps hT..hT+T-1 (index 0 = initial)."""
    result = run(data_dir, algorithm, seed=5).run()
    frame = result.frame
    T = 1 if algorithm == "Baydin" else 10
    for name in ("Lr", "Weight_Decay", "Momentum"):
        last = frame[frame.tag == f"Last_Hyperparameter/{name}"].sort_values("step")
        per_step = frame[frame.tag == f"Hyperparameter/{name}"].set_index("step")["value"]
        assert list(last.step) == list(range(len(last))) and len(last) == 30 // T
        initial = result.initial_hyperparameters[{"Lr": "lr", "Weight_Decay": "weight_decay"}.get(name, "momentum")]
        assert last.value.iloc[0] == pytest.approx(initial, rel=1e-6), name
        for h, value in zip(last.step, last.value):
            window = per_step.loc[h * T : h * T + T - 1]
            assert (window == value).all(), (name, h)
    lr = frame[frame.tag == "Last_Hyperparameter/Lr"].value.to_numpy()
    assert np.ptp(lr) > 0  # every one of these algorithms changes lr between windows

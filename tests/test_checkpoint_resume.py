"""Checkpoint and resume: a run interrupted by SIGTERM and restarted equals an uninterrupted run.

Also exercises the three model families (MLP+BatchNorm, LSTM language model, ResNet-18) end to end
on tiny data in the upstream tensor formats, since resuming must restore each one's state.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from onepass.io_utils import OutputError
from onepass.training.algorithms import get_algorithm
from onepass.training.checkpoint import EXIT_PREEMPTED
from onepass.training.chunk import scalars_writer, train_chunk, write_chunk
from onepass.training.config import build_config
from onepass.training.data import prepare_data
from onepass.training.run import TrainingRun

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["seed", "step", "tag", "value"]


@pytest.fixture(scope="module")
def data_dir(energy_data_dir, tmp_path_factory) -> Path:
    """Real UCI Energy (tests/conftest.py) plus tiny PTB, Fashion-MNIST and CIFAR-shaped tensors."""
    folder = tmp_path_factory.mktemp("data")
    (folder / "uci_energy").symlink_to(energy_data_dir / "uci_energy")
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 50, (3000,), generator=g)
    (folder / "penn_treebank").mkdir()
    torch.save(tokens, folder / "penn_treebank" / "data.pt")
    torch.save(tokens.clone(), folder / "penn_treebank" / "targets.pt")
    (folder / "fashion_mnist").mkdir()
    torch.save(torch.randint(0, 256, (300, 784), generator=g, dtype=torch.uint8), folder / "fashion_mnist" / "data.pt")
    torch.save(torch.randint(0, 10, (300,), generator=g), folder / "fashion_mnist" / "targets.pt")
    (folder / "cifar10").mkdir()
    torch.save(torch.randint(0, 256, (60, 3, 32, 32), generator=g, dtype=torch.uint8), folder / "cifar10" / "data.pt")
    torch.save(torch.randint(0, 10, (60,), generator=g), folder / "cifar10" / "targets.pt")
    return folder


CASES = {
    "uci_energy": {"hyperparameter_steps": 6},
    "penn_treebank": {
        "model": {"vocab_size": 50, "embedding_size": 8, "hidden_size": 8},
        "test_size": 400,
        "batch_size": 10,
        "streams": 4,
        "update_interval": 3,
        "hyperparameter_steps": 8,
    },
    "fashion_mnist": {
        "model": {"batch_norm": True},
        "test_size": 50,
        "batch_size": 20,
        "update_interval": 4,
        "hyperparameter_steps": 5,
    },
    "cifar10": {"test_size": 10, "batch_size": 8, "update_interval": 2, "hyperparameter_steps": 3},
}


def make_run(data_dir: Path, dataset: str, algorithm: str, seed: int = 0) -> TrainingRun:
    alg = get_algorithm(algorithm)
    config = build_config(dataset, CASES[dataset])
    data = prepare_data(config, data_dir, alg.keep_validation, torch.device("cpu"))
    return TrainingRun(config, alg, seed, data, torch.device("cpu"))


@pytest.mark.parametrize(
    "dataset,algorithm",
    [
        ("uci_energy", "Ours_HDLR_Momentum"),
        ("uci_energy", "DiffThroughOpt"),
        ("uci_energy", "Random_SteppedLR"),
        ("penn_treebank", "Ours_LR_Momentum"),
        ("penn_treebank", "Random_Validation"),
        ("fashion_mnist", "Ours_LR_Momentum"),
        ("fashion_mnist", "Baydin"),
        ("cifar10", "Ours_LR_Momentum"),
    ],
)
def test_resumed_run_is_bit_identical(data_dir, dataset, algorithm, tmp_path):
    reference = make_run(data_dir, dataset, algorithm).run()
    assert reference.status == "ok", reference.reason
    interrupted = make_run(data_dir, dataset, algorithm)
    for _ in range(interrupted.H // 2):
        interrupted.run_window()
    path = tmp_path / "state.ckpt"
    torch.save(interrupted.state_dict(), path)
    del interrupted
    resumed = make_run(data_dir, dataset, algorithm)
    resumed.load_state_dict(torch.load(path, weights_only=True))
    result = resumed.run()
    pd.testing.assert_frame_equal(result.frame[COLUMNS], reference.frame[COLUMNS])
    assert result.final == reference.final


def test_language_model_reports_perplexity_and_carries_hidden_state(data_dir):
    run = make_run(data_dir, "penn_treebank", "Ours_LR_Momentum")
    result = run.run()
    frame = result.frame
    test = frame[frame.tag == "Loss/Test"].value.to_numpy()
    ppl = frame[frame.tag == "Perplexity/Test"].value.to_numpy()
    np.testing.assert_allclose(ppl, np.exp(test), rtol=1e-12)
    assert run.hidden["train"] is not None and not run.hidden["train"][0].requires_grad
    assert ppl[0] == pytest.approx(50, rel=0.2)  # untrained model on 50 random tokens


def test_classification_logs_accuracy(data_dir):
    result = make_run(data_dir, "fashion_mnist", "Random").run()
    accuracy = result.frame[result.frame.tag == "Accuracy/Test"].value
    assert len(accuracy) == 4 * 5 + 1 and accuracy.between(0, 1).all()


def cli(out: Path, data_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "onepass", "train", "--dataset-config", "uci_energy", "--algorithm",
        "Ours_LR_Momentum", "--seeds", "0-1", "--out", str(out), "--data-dir", str(data_dir), "--device", "cpu",
        "--quiet", "--threads", "1", "--set", "hyperparameter_steps=120", *extra,
    ]  # fmt: skip


def test_sigterm_then_rerun_equals_an_uninterrupted_run(data_dir, tmp_path):
    reference_out = tmp_path / "reference" / "chunk.parquet"
    subprocess.run(cli(reference_out, data_dir), check=True, timeout=600)
    out = tmp_path / "interrupted" / "chunk.parquet"
    ckpt = out.with_suffix(".ckpt")
    process = subprocess.Popen(cli(out, data_dir, "--checkpoint-every", "0.3"), stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not ckpt.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert ckpt.exists(), "no periodic checkpoint appeared"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == EXIT_PREEMPTED, stderr
    assert "run the same command again to resume" in stderr
    assert ckpt.exists() and not out.exists() and not out.with_suffix(".json").exists()
    saved = torch.load(ckpt, weights_only=True)
    assert saved["current"] is not None or saved["completed"]  # something to resume from
    resumed = subprocess.run(
        cli(out, data_dir, "--checkpoint-every", "0.3"), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    assert not ckpt.exists()  # removed once the chunk is complete
    pd.testing.assert_frame_equal(pd.read_parquet(out)[COLUMNS], pd.read_parquet(reference_out)[COLUMNS])
    runs = json.loads(out.with_suffix(".json").read_text())["runs"]
    reference_runs = json.loads(reference_out.with_suffix(".json").read_text())["runs"]
    assert [r["final"] for r in runs] == [r["final"] for r in reference_runs]


def test_checkpoint_of_another_job_is_refused(data_dir, tmp_path):
    out = tmp_path / "chunk.parquet"
    out.with_suffix(".ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="unreadable checkpoint.*delete it"):
        train_chunk("uci_energy", "Random", [0], out, data_dir=data_dir, device="cpu", progress=False)
    torch.save({"format": 1, "key": "other", "completed": [], "current": None}, out.with_suffix(".ckpt"))
    with pytest.raises(ValueError, match="different job"):
        train_chunk("uci_energy", "Random", [0], out, data_dir=data_dir, device="cpu", progress=False)
    assert not out.exists()


def test_unwritable_output_folder_fails_before_training(data_dir, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should be")
    start = time.perf_counter()
    with pytest.raises(OutputError, match="not_a_folder.*not writable"):
        train_chunk(
            "uci_energy", "Random", [0], blocker / "chunk.parquet", data_dir=data_dir, device="cpu", progress=False
        )
    assert time.perf_counter() - start < 5


def test_full_disk_gives_a_clear_error_and_no_partial_outputs(data_dir, tmp_path):
    """A real full filesystem (a 16 KiB tmpfs): the error names the output, and nothing is left."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount_point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        out = mount_point / "chunk.parquet"
        with pytest.raises(OutputError, match=r"chunk\.(parquet|json).*(No space left|writing failed)"):
            train_chunk(
                "uci_energy", "Random", [0, 1], out, data_dir=data_dir, device="cpu",
                overrides=["hyperparameter_steps=100"], progress=False, checkpoint_every=None,
            )  # fmt: skip
        assert sorted(p.name for p in mount_point.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


@pytest.fixture(scope="module")
def long_reference(data_dir, tmp_path_factory) -> Path:
    """An uninterrupted run of the long chunk the signal tests interrupt."""
    out = tmp_path_factory.mktemp("reference") / "chunk.parquet"
    subprocess.run(cli(out, data_dir, "--seeds", "0-2", "--set", "hyperparameter_steps=400"), check=True, timeout=600)
    return out


@pytest.mark.parametrize(
    "signal_name,every",
    [("SIGTERM", "0"), ("SIGUSR1", "0"), ("SIGINT", "0"), ("SIGINT", "300")],
)
def test_every_stop_signal_checkpoints_and_the_rerun_is_bit_identical(
    data_dir, long_reference, tmp_path, signal_name, every
):
    """SIGTERM, SIGUSR1 and Ctrl-C stop the chunk at a window end with a checkpoint, also with
    `--checkpoint-every 0` (which turns off periodic checkpoints, not the signal handling)."""
    out = tmp_path / "chunk.parquet"
    ckpt = out.with_suffix(".ckpt")
    # later --seeds/--set arguments win: 3 seeds x 4000 steps, long enough to be interrupted mid-run
    args = cli(out, data_dir, "--seeds", "0-2", "--set", "hyperparameter_steps=400", "--checkpoint-every", every,
               "--tensorboard-dir", str(tmp_path / "tb"))  # fmt: skip
    process = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (tmp_path / "tb" / "seed0").is_dir() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)  # the first run's event folder: training has started
    time.sleep(0.3)
    process.send_signal(getattr(signal, signal_name))
    _, stderr = process.communicate(timeout=120)
    expected_status = 130 if signal_name == "SIGINT" else EXIT_PREEMPTED
    assert process.returncode == expected_status, stderr
    assert f"{signal_name} received" in stderr and "run the same command again to resume" in stderr
    assert "Traceback" not in stderr
    assert ckpt.exists() and not out.exists() and not out.with_suffix(".json").exists()
    resumed = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert not ckpt.exists()
    pd.testing.assert_frame_equal(pd.read_parquet(out)[COLUMNS], pd.read_parquet(long_reference)[COLUMNS])


def test_failed_summary_write_leaves_no_table_behind(data_dir, tmp_path):
    """The chunk's two files appear together or not at all: here the JSON cannot be renamed into
    place (a folder occupies its name), so the table already renamed is taken back. train_chunk
    refuses such a folder before training; write_chunk, which pairs the two files, is run directly."""
    out = tmp_path / "chunk.parquet"
    (tmp_path / "chunk.json").mkdir()
    (tmp_path / "chunk.json" / "occupied").write_text("")
    with pytest.raises(OutputError, match=r"chunk\.json: is a folder, where the output file should be"):
        train_chunk("uci_energy", "Random", [0], out, data_dir=data_dir, device="cpu", progress=False,
                    overrides=["hyperparameter_steps=2"])  # fmt: skip
    frame = pd.DataFrame({"seed": [0], "step": [0], "tag": ["loss"], "value": [1.0], "wall_time": [0.0]})
    with pytest.raises(OutputError, match=r"chunk\.json: writing failed.*removed .*chunk\.parquet"):
        write_chunk(out, tmp_path / "chunk.json", scalars_writer(frame), {"runs": []})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunk.json"]  # only the obstacle


def test_read_only_output_folder_gives_one_clear_error(data_dir, tmp_path):
    """A real read-only mount: the write probe fails and its cleanup must not hide that."""
    mount_point = tmp_path / "ro"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=16k", "tmpfs", str(mount_point)],
                             capture_output=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        result = subprocess.run(cli(mount_point / "chunk.parquet", data_dir), capture_output=True, text=True)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert "ro: output folder is not writable (Read-only file system)" in result.stderr
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)

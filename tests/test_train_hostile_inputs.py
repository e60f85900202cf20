"""What a hostile or careless user can hand `onepass train`, and what must come of it.

Each refused input ends in one `error:` line naming the file or key and the problem, exit status 2,
and no output left behind (the table). A resume never mixes inputs: a checkpoint made from other
data or other initial weights is not resumed. A periodic checkpoint that cannot be written (a real
file-size limit, as a full disk) warns and the chunk still completes, bit-identically.
"""

from __future__ import annotations

import pickle
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from onepass.cli import main

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["seed", "step", "tag", "value"]


def _copy_data(energy_data_dir: Path, folder: Path, change=None) -> Path:
    """UCI Energy copied into folder/uci_energy, optionally changed by change(data, targets)."""
    data = torch.load(energy_data_dir / "uci_energy" / "data.pt", weights_only=True)
    targets = torch.load(energy_data_dir / "uci_energy" / "targets.pt", weights_only=True)
    if change is not None:
        data, targets = change(data.clone(), targets.clone())
    (folder / "uci_energy").mkdir(parents=True, exist_ok=True)
    torch.save(data, folder / "uci_energy" / "data.pt")
    torch.save(targets, folder / "uci_energy" / "targets.pt")
    return folder


def _nan_at_first(tensor: torch.Tensor, value: float) -> torch.Tensor:
    tensor.view(-1)[0] = value
    return tensor


class _Payload:
    def __reduce__(self):
        return (Path.touch, (Path("/tmp/onepass-pwned-18"),))


def _weights(path: Path, value: float | None = None) -> Path:
    """A state dict of the UCI MLP (8-50-1); one weight set to `value` when given."""
    state = {"layers.0.weight": torch.zeros(50, 8), "layers.0.bias": torch.zeros(50),
             "layers.2.weight": torch.zeros(1, 50), "layers.2.bias": torch.zeros(1)}  # fmt: skip
    if value is not None:
        state["layers.0.weight"][3, 4] = value
    torch.save(state, path)
    return path


def _dataset_yaml(path: Path, **changes) -> Path:
    text = (REPO / "src/onepass/configs/datasets/uci_energy.yaml").read_text()
    config = {**yaml.safe_load(text), **changes}
    path.write_text(yaml.safe_dump(config))
    return path


def _binary(path: Path) -> Path:
    path.write_bytes(b"\xff\xfe\x00")
    return path


def _twice(path: Path) -> Path:
    text = (REPO / "src/onepass/configs/datasets/uci_energy.yaml").read_text()
    path.write_text(text + "\ntest_size: 10\n")
    return path


def _setup_pickled_data(tmp: Path, energy: Path) -> list[str]:
    folder = _copy_data(energy, tmp / "data")
    (folder / "uci_energy" / "data.pt").write_bytes(pickle.dumps(_Payload()))
    return ["--data-dir", str(folder)]


# name: (setup(tmp_path, energy_data_dir) -> CLI arguments replacing/adding to the defaults, words)
# Later arguments win (`--seeds`, `--out`, `--algorithm` given twice: argparse keeps the last).
CASES = {
    "seed beyond int32": (lambda t, e: ["--seeds", "2147483648"], "seed 2147483648 is larger than 2147483647"),
    "seed range too long": (lambda t, e: ["--seeds", "0-999999"], "more than 100000 seeds in one chunk"),
    "seed range beyond int32": (lambda t, e: ["--seeds", "0-99999999999"], "larger than 2147483647"),
    "dataset overridden": (
        lambda t, e: ["--set", "dataset=uci_concrete"], "config key 'dataset': is fixed by the dataset config"
    ),
    "task overridden": (lambda t, e: ["--set", "task=classification"], "config key 'task': is fixed"),
    "model replaced": (lambda t, e: ["--set", "model={type: resnet18}"], "config key 'model': is fixed"),
    "model type overridden": (lambda t, e: ["--set", "model.type=resnet18"], "config key 'model.type': is fixed"),
    "model unfit for the task": (
        lambda t, e: ["--dataset-config", str(_dataset_yaml(t / "lstm.yaml", model={"type": "lstm"}))],
        "a lstm model cannot train task regression",
    ),
    "validation rounds to nothing": (
        lambda t, e: ["--set", "validation_proportion=0.0001"], "rounds to 0 validation rows"
    ),
    "lookback beyond the window": (
        lambda t, e: ["--algorithm", "DiffThroughOpt", "--set", "update_interval=3", "lookback=5"],
        "config key 'lookback': is 5, but DiffThroughOpt can unroll at most the update_interval=3",
    ),
    "empty --out": (lambda t, e: ["--out", ""], "--out: empty"),
    "--out a folder": (
        lambda t, e: (t / "r.parquet").mkdir() or ["--out", str(t / "r.parquet")], "r.parquet: is a folder"
    ),
    "--tensorboard-dir unwritable": (
        lambda t, e: (t / "tb").write_text("") or ["--tensorboard-dir", str(t / "tb")],
        "--tensorboard-dir is not writable",
    ),
    "NaN in data.pt": (
        lambda t, e: ["--data-dir", str(_copy_data(e, t / "data", lambda d, y: (_nan_at_first(d, float("nan")), y)))],
        "data.pt: holds 1 NaN or infinite values",
    ),
    "inf in targets.pt": (
        lambda t, e: ["--data-dir", str(_copy_data(e, t / "data", lambda d, y: (d, _nan_at_first(y, float("inf")))))],
        "targets.pt: holds 1 NaN or infinite values",
    ),
    "NaN in --init-weights": (
        lambda t, e: ["--init-weights", str(_weights(t / "w.pt", float("nan")))],
        "w.pt: 'layers.0.weight' holds 1 NaN or infinite values",
    ),
    "pickled object as data.pt": (
        _setup_pickled_data, "data.pt: not a tensor saved with torch.save (it holds pickled objects other than tensors"
    ),
    "--dataset-config with a key twice": (
        lambda t, e: ["--dataset-config", str(_twice(t / "twice.yaml"))], "twice.yaml: test_size: written twice (lines"
    ),
    "--dataset-config not text": (
        lambda t, e: ["--dataset-config", str(_binary(t / "bin.yaml"))],
        "bin.yaml' is not UTF-8 text",
    ),
    "--init-weights a folder": (
        lambda t, e: (t / "w").mkdir() or ["--init-weights", str(t / "w")], "no such file"
    ),
}


def _train(tmp_path: Path, data_dir: Path, *extra: str) -> int:
    return main(["train", "--dataset-config", "uci_energy", "--algorithm", "Ours_LR_Momentum", "--seeds", "0",
                 "--out", str(tmp_path / "out" / "r.parquet"), "--data-dir", str(data_dir), "--quiet",
                 "--set", "hyperparameter_steps=2", *extra])  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_refused_input_is_one_line_and_leaves_nothing(energy_data_dir, tmp_path, capsys, case):
    setup, words = CASES[case]
    extra = setup(tmp_path, energy_data_dir)
    capsys.readouterr()
    status = _train(tmp_path, energy_data_dir, *extra)
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert words in err, err
    assert "weights_only=False" not in err and "weights_only` set to `False" not in err
    out = Path(extra[extra.index("--out") + 1]) if "--out" in extra else tmp_path / "out" / "r.parquet"
    if str(out).strip() and not out.is_dir():
        assert not out.exists() and not out.with_suffix(".json").exists() and not out.with_suffix(".ckpt").exists()
    assert not (REPO / "scalars.parquet").exists() and not Path("scalars.parquet").exists()
    assert not Path("/tmp/onepass-pwned-18").exists()


def test_existing_outputs_are_kept_unless_overwrite(energy_data_dir, tmp_path, capsys):
    """Another run's result under the same name is refused, untouched; --overwrite replaces it."""
    out = tmp_path / "out" / "r.parquet"
    assert _train(tmp_path, energy_data_dir) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert _train(tmp_path, energy_data_dir, "--algorithm", "Random") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "already exists" in err and "--overwrite" in err, err
    assert out.read_bytes() == before
    assert _train(tmp_path, energy_data_dir, "--algorithm", "Random", "--overwrite") == 0
    assert out.read_bytes() != before


def _cli(out: Path, data_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "onepass", "train", "--dataset-config", "uci_energy", "--algorithm",
            "Ours_LR_Momentum", "--seeds", "0-1", "--out", str(out), "--data-dir", str(data_dir), "--quiet",
            "--threads", "1", "--set", "hyperparameter_steps=12", *extra]  # fmt: skip


def _frame(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out)[COLUMNS]


# input changed between the interruption and the rerun: (change of the data folder, init-weights value)
CHANGED_INPUTS = {
    "targets.pt": (lambda d, y: (d, y * 2.0), None),
    "data.pt": (lambda d, y: (d + 1.0, y), None),
    "--init-weights": (None, 0.5),
}


@pytest.mark.parametrize("changed", list(CHANGED_INPUTS))
def test_a_resume_never_mixes_inputs(energy_data_dir, tmp_path, changed):
    """A kept checkpoint of a finished chunk would make the rerun resume; with any input changed,
    the rerun must instead equal a clean run on the new inputs and say why it restarted."""
    change, weight = CHANGED_INPUTS[changed]
    old_data = _copy_data(energy_data_dir, tmp_path / "old")
    new_data = _copy_data(energy_data_dir, tmp_path / "new", change)
    weights = _weights(tmp_path / "w.pt", 0.25)
    out = tmp_path / "chunk" / "c.parquet"
    first = subprocess.run(_cli(out, old_data, "--init-weights", str(weights), "--checkpoint-every", "1e-9",
                                "--keep-checkpoint"), capture_output=True, text=True, timeout=600)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert out.with_suffix(".ckpt").exists()
    old_frame = _frame(out)
    out.unlink()
    out.with_suffix(".json").unlink()
    if weight is not None:
        _weights(weights, weight)
    rerun = subprocess.run(_cli(out, new_data, "--init-weights", str(weights)), capture_output=True, text=True,
                           timeout=600)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert f"{changed} changed since this checkpoint was written; starting the chunk afresh" in rerun.stderr
    clean = tmp_path / "clean" / "c.parquet"
    subprocess.run(_cli(clean, new_data, "--init-weights", str(weights)), check=True, timeout=600)
    pd.testing.assert_frame_equal(_frame(out), _frame(clean))
    assert not _frame(out).equals(old_frame)


def _file_size_limit(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_checkpoint_that_cannot_be_written_does_not_stop_training(energy_data_dir, tmp_path):
    """Checkpoints outgrow a 40 kB file-size limit within the first seed; the outputs (20 kB) do
    not. The chunk warns once, completes, and equals a run that never checkpointed."""
    out = tmp_path / "limited" / "c.parquet"
    limited = subprocess.run(_cli(out, energy_data_dir, "--checkpoint-every", "1e-9"), capture_output=True, text=True,
                             timeout=600, preexec_fn=_file_size_limit(40_000))  # fmt: skip
    assert limited.returncode == 0, limited.stderr
    assert "Traceback" not in limited.stderr
    assert limited.stderr.count("warning: checkpoint not saved, training goes on") == 1, limited.stderr
    assert "c.ckpt" in limited.stderr
    reference = tmp_path / "reference" / "c.parquet"
    subprocess.run(_cli(reference, energy_data_dir, "--checkpoint-every", "0"), check=True, timeout=600)
    pd.testing.assert_frame_equal(_frame(out), _frame(reference))
    assert sorted(p.name for p in out.parent.iterdir()) == ["c.json", "c.parquet"]  # no checkpoint, no temp file


def _kept_checkpoint(energy_data_dir: Path, out: Path) -> dict:
    """The checkpoint a finished two-seed chunk keeps (seed 0 finished, seed 1's last state)."""
    assert main(["train", "--dataset-config", "uci_energy", "--algorithm", "Random", "--seeds", "0-1", "--out",
                 str(out), "--data-dir", str(energy_data_dir), "--quiet", "--set", "hyperparameter_steps=2",
                 "--checkpoint-every", "1e-9", "--keep-checkpoint"]) == 0  # fmt: skip
    out.unlink()
    out.with_suffix(".json").unlink()
    return torch.load(out.with_suffix(".ckpt"), weights_only=True)


def _seed_zero_twice(state: dict) -> None:
    state["current"] = None
    state["completed"] = [state["completed"][0]] * 2


def _no_frame_seed(state: dict) -> None:
    del state["completed"][0]["frame"]["seed"]


def _summary_as_text(state: dict) -> None:
    state["completed"][0]["summary"] = "ok"


def _current_of_another_seed(state: dict) -> None:
    state["current"]["seed"] = 5


def _current_without_model(state: dict) -> None:
    del state["current"]["model"]


def _completed_as_text(state: dict) -> None:
    state["completed"] = "seed 0, seed 1"


# name: (edit of a loadable checkpoint, words of the error)
MALFORMED_CHECKPOINTS = {
    "seed 0 twice": (_seed_zero_twice, "'completed[1].summary.seed' is 0, but seed 1 belongs at this place"),
    "a frame column missing": (_no_frame_seed, "'completed[0].frame.seed' is not a 1-D torch.int32 tensor"),
    "a summary as text": (_summary_as_text, "'completed[0].summary' is missing or not a mapping"),
    "the running state of another seed": (_current_of_another_seed, "'current.seed' is 5, but the next seed"),
    "the running state without weights": (_current_without_model, "'current' lacks model"),
    "completed as text": (_completed_as_text, "'completed' is not a list"),
}


@pytest.mark.parametrize("case", list(MALFORMED_CHECKPOINTS))
def test_a_malformed_checkpoint_is_refused_not_trusted(energy_data_dir, tmp_path, capsys, case):
    edit, words = MALFORMED_CHECKPOINTS[case]
    out = tmp_path / "c.parquet"
    state = _kept_checkpoint(energy_data_dir, out)
    edit(state)
    torch.save(state, out.with_suffix(".ckpt"))
    capsys.readouterr()
    status = main(["train", "--dataset-config", "uci_energy", "--algorithm", "Random", "--seeds", "0-1",
                   "--out", str(out), "--data-dir", str(energy_data_dir), "--quiet",
                   "--set", "hyperparameter_steps=2"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert words in err and "delete it" in err, err
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_temporary_files_of_a_killed_write_are_removed(energy_data_dir, tmp_path):
    """A write killed midway (SIGKILL) leaves `.c.ckpt.<random>.tmp`; the next run removes it,
    and those of the outputs, and nothing else."""
    out = tmp_path / "c.parquet"
    leftovers = [tmp_path / ".c.ckpt.abc123.tmp", tmp_path / ".c.parquet.x1.tmp", tmp_path / ".c.json.y2.tmp"]
    for path in leftovers:
        path.write_bytes(b"partial")
    unrelated = tmp_path / ".other.ckpt.z.tmp"
    unrelated.write_bytes(b"someone else's")
    assert main(["train", "--dataset-config", "uci_energy", "--algorithm", "Random", "--seeds", "0", "--out",
                 str(out), "--data-dir", str(energy_data_dir), "--quiet", "--set", "hyperparameter_steps=2"]) == 0
    assert not any(path.exists() for path in leftovers)
    assert unrelated.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.ckpt.z.tmp", "c.json", "c.parquet"]

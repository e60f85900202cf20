"""Every bad input to `python -m onepass train` ends in one line naming the problem, exit status 2,
and no output file: a table of inputs, each with the words its message must contain."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from onepass.cli import main

torch.set_num_threads(1)

# (name, extra CLI arguments, words the one-line error must contain)
BAD_ARGUMENTS = [
    ("section set to null", ["--set", "init=null"], "'init': is a section of settings"),
    ("section set to a number", ["--set", "init=5"], "e.g. init.momentum=0.6"),
    ("old name of update_interval", ["--set", "network_weight_steps=3"],
     "config key 'network_weight_steps' was renamed to 'update_interval'"),
    ("old section of hyper_lr", ["--set", "hyperparameter_optimiser.lr=0.1"],
     "config key 'hyperparameter_optimiser.lr' was renamed to 'hyper_lr'"),
    ("old section of lr_clip", ["--set", "clipping.lr=null"], "config key 'clipping.lr' was renamed to 'lr_clip'"),
    ("lr_clip reversed", ["--set", "lr_clip=[0,-10]"], "'lr_clip': must be [low, high] in log10 units or null"),
    ("negative width", ["--set", "model.hidden_sizes=[-1]"], "'model.hidden_sizes': must be a list of positive"),
    ("zero width", ["--set", "model.hidden_sizes=[0]"], "'model.hidden_sizes'"),
    ("switch not boolean", ["--set", "fail_on_unclipped_fixed_lr=maybe"], "must be true or false, got 'maybe'"),
    ("batch_norm not boolean", ["--set", "model.batch_norm=3"], "'model.batch_norm': must be true or false"),
    ("normalisation unknown", ["--set", "normalise_inputs=sometimes"], "'normalise_inputs': must be true, false"),
    ("negative threshold", ["--set", "divergence_threshold=-1"], "'divergence_threshold': must be a positive"),
    ("input shape", ["--set", "input_shape=[0]"], "'input_shape': must be a list of positive sizes"),
    ("no validation set", ["--set", "validation_proportion=0"], "'validation_proportion': is 0, but Ours_LR"),
    ("unknown device", ["--device", "foo"], "--device foo: not a device"),
    ("negative checkpoint interval", ["--checkpoint-every", "-1"], "--checkpoint-every must be positive"),
]


def bad_weights(folder: Path) -> dict[str, tuple[Path, str]]:
    """Init-weight files that must be refused: empty, garbage, and a pickle that would run code."""
    empty = folder / "empty.pt"
    empty.write_bytes(b"")
    garbage = folder / "garbage.pt"
    garbage.write_text("not a checkpoint\n")
    malicious = folder / "malicious.pt"
    malicious.write_bytes(pickle.dumps(_Payload()))
    not_a_dict = folder / "list.pt"
    torch.save([torch.zeros(2)], not_a_dict)
    return {
        "empty": (empty, "not a model state dict saved with torch.save"),
        "garbage": (garbage, "not a model state dict saved with torch.save"),
        "malicious": (malicious, "not a model state dict saved with torch.save"),
        "list": (not_a_dict, "holds a list, not a model state dict"),
    }


class _Payload:
    """Unpickling this would create a file: weights_only must refuse it before that."""

    def __reduce__(self):
        return (Path.touch, (Path("/tmp/onepass-pwned"),))


# (name, how data.pt / targets.pt are changed, words the message must contain)
BAD_TENSORS = [
    ("5 columns", lambda d, t: (d[:, :5], t), "rows of shape [5], but uci_energy declares input_shape [8]"),
    ("1-D", lambda d, t: (d.reshape(-1), t), "has 6144 rows but targets.pt has 768"),
    ("3-D", lambda d, t: (d[:, :, None], t), "rows of shape [8, 1]"),
    ("bool", lambda d, t: (d > 0, t), "dtype torch.bool is not a dataset dtype"),
    ("complex", lambda d, t: (d.to(torch.complex64), t), "dtype torch.complex64"),
    ("0-dim", lambda d, t: (torch.tensor(1.0), t), "a single number, expected one row per example"),
    ("integer inputs", lambda d, t: (d.long(), t), "expected floating point for task regression"),
    ("wide targets", lambda d, t: (d, t.repeat(1, 2)), "expected (N,) or (N, 1)"),
]


def train(out: Path, data_dir: Path, *extra: str) -> int:
    return main(["train", "--dataset-config", "uci_energy", "--algorithm", "Ours_LR_Momentum", "--seeds", "0",
                 "--out", str(out), "--data-dir", str(data_dir), "--quiet", "--set", "hyperparameter_steps=2",
                 *extra])  # fmt: skip


def assert_one_line_error(capsys, status: int, words: str, out: Path) -> None:
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert words in err, err
    assert not out.exists() and not out.with_suffix(".json").exists() and not out.with_suffix(".ckpt").exists()


@pytest.mark.parametrize("name,extra,words", BAD_ARGUMENTS, ids=[row[0] for row in BAD_ARGUMENTS])
def test_bad_argument_is_one_line_error(energy_data_dir, tmp_path, capsys, name, extra, words):
    out = tmp_path / "r.parquet"
    assert_one_line_error(capsys, train(out, energy_data_dir, *extra), words, out)


@pytest.mark.parametrize("kind", ["empty", "garbage", "malicious", "list"])
def test_bad_init_weights_are_refused(energy_data_dir, tmp_path, capsys, kind):
    path, words = bad_weights(tmp_path)[kind]
    out = tmp_path / "r.parquet"
    assert_one_line_error(capsys, train(out, energy_data_dir, "--init-weights", str(path)), words, out)
    assert not Path("/tmp/onepass-pwned").exists()


@pytest.mark.parametrize("name,change,words", BAD_TENSORS, ids=[row[0] for row in BAD_TENSORS])
def test_bad_data_tensors_are_refused(energy_data_dir, tmp_path, capsys, name, change, words):
    data = torch.load(energy_data_dir / "uci_energy" / "data.pt", weights_only=True)
    targets = torch.load(energy_data_dir / "uci_energy" / "targets.pt", weights_only=True)
    folder = tmp_path / "data" / "uci_energy"
    folder.mkdir(parents=True)
    bad_data, bad_targets = change(data, targets)
    torch.save(bad_data, folder / "data.pt")
    torch.save(bad_targets, folder / "targets.pt")
    out = tmp_path / "r.parquet"
    assert_one_line_error(capsys, train(out, tmp_path / "data"), words, out)


def test_long_diff_through_opt_warns_when_it_replaces_user_settings(tmp_path, capsys):
    """The warning comes once, before any work (here the data is missing, so the run stops there)."""
    out = tmp_path / "r.parquet"
    status = main(["train", "--dataset-config", "uci_energy", "--algorithm", "LongDiffThroughOpt_UCI_Standalone",
                   "--seeds", "0", "--out", str(out), "--data-dir", str(tmp_path / "none"), "--quiet",
                   "--set", "update_interval=3", "hyperparameter_steps=30"])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and "data.pt: missing" in err
    assert err.count("warning:") == 1
    assert "ignores update_interval=3 (uses 200)" in err and "hyperparameter_steps" not in err.split("warning:")[1]

"""Outputs get the mode the umask gives any new file (a group sharing a cluster folder can read
them), although they are written through private temporary files."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from onepass.analysis.loading import atomic_savefig
from onepass.datasets.io import save_tensors
from onepass.training.chunk import train_chunk


@pytest.fixture(params=[0o022, 0o002])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_every_kind_of_output_respects_the_umask(energy_data_dir, tmp_path, umask):
    expected = 0o666 & ~umask
    out = tmp_path / "runs" / "chunk.parquet"
    train_chunk("uci_energy", "Random", [0], out, data_dir=energy_data_dir, device="cpu", progress=False,
                overrides=["hyperparameter_steps=2"], keep_checkpoint=True, checkpoint_every=1e-9)  # fmt: skip
    save_tensors({tmp_path / "data" / "data.pt": torch.zeros(3, 2)})
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    atomic_savefig(fig, tmp_path / "figures" / "f.pdf")
    plt.close(fig)
    outputs = [out, out.with_suffix(".json"), out.with_suffix(".ckpt"), tmp_path / "data" / "data.pt",
               tmp_path / "figures" / "f.pdf"]  # fmt: skip
    assert {str(p.relative_to(tmp_path)): oct(mode(p)) for p in outputs} == {
        str(p.relative_to(tmp_path)): oct(expected) for p in outputs
    }

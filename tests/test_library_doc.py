"""docs/LIBRARY.md's minibatch example runs as printed, tunes its hyperparameters and checkpoints."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import torch

DOC = Path(__file__).resolve().parents[1] / "docs" / "LIBRARY.md"


def library_example() -> str:
    match = re.search(
        r"<!-- library-example -->\s*```python\n(.*?)```\s*<!-- end library-example -->", DOC.read_text(), re.S
    )
    assert match, "docs/LIBRARY.md lost its <!-- library-example --> block"
    return match.group(1)


def test_minibatch_example_tunes_and_restores(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    namespace: dict = {}
    exec(compile(library_example(), str(DOC), "exec"), namespace)
    history, opt = namespace["history"], namespace["opt"]
    assert len(history) == 8 * 24 // 10  # one hyperparameter step per 10 minibatch steps
    assert history[-1]["lr"] > 3 * 1e-3  # from lr 1e-3 the hypergradient raises the learning rate
    assert all(0 < h["momentum"] < 1 for h in history)
    # The checkpoint brings a freshly built optimiser to the tuned hyperparameters and Adam state.
    checkpoint = torch.load(tmp_path / "hypersgd.pt", weights_only=True)
    model = copy.deepcopy(namespace["model"])
    fresh = namespace["onepass"].HyperSGD(model, lr=1e-3, weight_decay=1e-4, momentum=0.5)
    assert fresh.hyperparameters != opt.hyperparameters
    model.load_state_dict(checkpoint["model"])
    fresh.load_state_dict(checkpoint["optimiser"])
    assert fresh.hyperparameters == opt.hyperparameters
    assert fresh.hyper_optimiser.steps == len(history)
    assert "lr" in capsys.readouterr().out


def test_param_groups_example_tunes_each_group_apart(capsys):
    torch.set_num_threads(1)
    match = re.search(
        r"<!-- groups-example -->\s*```python\n(.*?)```\s*<!-- end groups-example -->", DOC.read_text(), re.S
    )
    assert match, "docs/LIBRARY.md lost its <!-- groups-example --> block"
    namespace: dict = {}
    exec(compile(match.group(1), str(DOC), "exec"), namespace)
    body, no_decay, head = namespace["opt"].group_hyperparameters
    assert no_decay["weight_decay"] == 0.0 and body["weight_decay"] != 5e-4  # no decay stays at 0
    assert body["lr"] != no_decay["lr"] and body["lr"] != 0.05  # each group's lr tuned apart
    assert head == {"lr": 0.01, "weight_decay": 5e-4, "momentum": 0.9}  # tune=() keeps the head's values
    assert len(capsys.readouterr().out.splitlines()) == 3

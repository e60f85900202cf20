"""HyperSGD rejects arguments it cannot honour with an error that says what to change."""

from __future__ import annotations

import pytest
from torch import nn

from onepass import HyperSGD


def test_unknown_method_and_hyperparameter_are_named():
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="method must be one of"):
        HyperSGD(model, 0.1, method="newton")
    with pytest.raises(ValueError, match=r"unknown hyperparameters \['beta'\]"):
        HyperSGD(model, 0.1, tune=("lr", "beta"))


def test_baydin_tunes_only_the_learning_rate():
    with pytest.raises(ValueError, match="tune=\\('lr',\\)"):
        HyperSGD(nn.Linear(2, 1), 0.1, 0.0, 0.5, tune=("lr", "momentum"), method="baydin")
    assert HyperSGD(nn.Linear(2, 1), 0.1, method="baydin").tune == ("lr",)  # the default tunes what it can


def test_per_parameter_lr_needs_lr_tuned():
    with pytest.raises(ValueError, match="per_parameter_lr=True needs 'lr' in tune"):
        HyperSGD(nn.Linear(2, 1), 0.1, 1e-4, tune=("weight_decay",), per_parameter_lr=True)


def test_models_without_trainable_weights_or_split_across_devices_are_refused():
    frozen = nn.Linear(2, 1).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        HyperSGD(frozen, 0.1)
    split = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1, device="meta"))
    with pytest.raises(ValueError, match="one device"):
        HyperSGD(split, 0.1)


def test_hyperparameters_outside_their_transformed_domain_are_refused():
    with pytest.raises(ValueError, match="momentum must be in \\[0, 1\\)"):
        HyperSGD(nn.Linear(2, 1), 0.1, 1e-4, 1.0)
    with pytest.raises(ValueError, match="lr must be a positive"):
        HyperSGD(nn.Linear(2, 1), 0.0)

"""The Ray search space and its mapping to a trial's initial hyperparameters.

Ray samples lr = 10^U(-6,-1), weight decay = 10^U(-7,-2), momentum = U(0, 1) (the authors' space) in
"raw" coordinates: log10 lr, log10 weight decay, natural momentum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MOMENTUM_MAX = 1.0 - 1e-6
#: Momentum used for training never reaches 0 exactly: its logit must exist for Ours.
MOMENTUM_MIN = 1e-6
#: Keys of a trial config that PBT mutates.
RAW_KEYS = ("lr_log10", "weight_decay_log10", "momentum")


def search_space(tune: Any) -> dict[str, Any]:
    """Initial values (and, for PBT, the resampling distributions), as the authors' Ray space."""
    return {
        "lr_log10": tune.uniform(-6.0, -1.0),
        "weight_decay_log10": tune.uniform(-7.0, -2.0),
        "momentum": tune.uniform(0.0, MOMENTUM_MAX),
        "seed": tune.randint(0, 2**31 - 1),
    }


def explore(config: dict[str, Any]) -> dict[str, Any]:
    """Keep PBT's perturbed momentum inside [0, 1) (the authors clipped it to [0, 1 - 1e-6])."""
    config["momentum"] = min(max(float(config["momentum"]), 0.0), MOMENTUM_MAX)
    return config


def raw_value(key: str, value: float) -> float:
    """Raw (optimised) coordinate of a trial config value: log10 already; momentum -> logit."""
    if key == "momentum":
        m = min(max(value, MOMENTUM_MIN), MOMENTUM_MAX)
        return math.log(m) - math.log1p(-m)
    return float(value)


def trial_hyperparameters(config: Mapping[str, Any]) -> dict[str, float]:
    """Trial config -> natural initial values; lr kept inside the clipping range [1e-10, 1].

    PBT's x1.2 / x0.8 perturbations act on log10 values without bounds (the authors' code then
    crashed on an out-of-range lr); clamping keeps such trials alive (docs/FIDELITY.md).
    """
    return {
        "lr": 10.0 ** min(max(float(config["lr_log10"]), -10.0), 0.0),
        "weight_decay": 10.0 ** float(config["weight_decay_log10"]),
        "momentum": min(max(float(config["momentum"]), MOMENTUM_MIN), MOMENTUM_MAX),
    }

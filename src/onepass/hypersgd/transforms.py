"""The raw (optimised) <-> natural transforms of the hyperparameters.

Hyperparameters are optimised in a transformed "raw" space, as in the paper: log10 for the learning
rate and weight decay, logit for momentum. Optimising in that space keeps every value valid (lr and
decay positive, momentum in (0, 1)) and makes Adam's roughly constant step size a relative change.
"""

from __future__ import annotations

import math

import torch

LN10 = math.log(10.0)

HYPERPARAMETER_NAMES = ("lr", "weight_decay", "momentum")


def to_raw(name: str, value: float) -> float:
    """Natural value -> raw (optimised) value."""
    if name in ("lr", "weight_decay"):
        if value <= 0:
            raise ValueError(f"{name} must be positive to be optimised in log10 space, got {value}")
        return math.log10(value)
    if name == "momentum":
        if not 0 < value < 1:
            raise ValueError(f"momentum must be in (0, 1) to be optimised in logit space, got {value}")
        return math.log(value) - math.log1p(-value)
    raise KeyError(name)


def from_raw(name: str, raw: torch.Tensor) -> torch.Tensor:
    """Raw tensor -> natural tensor, differentiably."""
    if name in ("lr", "weight_decay"):
        return torch.pow(10.0, raw)
    if name == "momentum":
        return torch.sigmoid(raw)
    raise KeyError(name)


def natural_per_raw(name: str, natural: float | torch.Tensor) -> float | torch.Tensor:
    """d natural / d raw at ``natural`` (the derivative of :func:`from_raw`), for the chain rule.

    log10 space: d(10^r)/dr = 10^r ln 10. Logit space: d sigmoid(r)/dr = s (1 - s).
    """
    if name in ("lr", "weight_decay"):
        return natural * LN10
    if name == "momentum":
        return natural * (1 - natural)
    raise KeyError(name)

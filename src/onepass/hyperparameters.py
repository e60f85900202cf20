"""Initial hyperparameters: seeded draws, and the raw (optimised) <-> natural transforms.

Hyperparameters are optimised in a transformed "raw" space, as in the paper: log10 for the learning
rate and weight decay, logit for momentum. Optimising in that space keeps every value valid (lr and
decay positive, momentum in (0, 1)) and makes Adam's roughly constant step size a relative change.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

LN10 = math.log(10.0)

HYPERPARAMETER_NAMES = ("lr", "weight_decay", "momentum")


def derive_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed for one purpose (weights, data order, hyperparameters) of one run seed.

    Separate streams per purpose keep the pairing exact: an algorithm that consumes more random
    numbers for data (Baydin's second training stream) cannot shift another purpose's draws.
    Hashing makes the derived seeds platform-independent and unrelated for neighbouring seeds.
    """
    digest = hashlib.sha256(f"onepass:{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def generator_for(seed: int, purpose: str, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator seeded by :func:`derive_seed`."""
    return torch.Generator(device=device).manual_seed(derive_seed(seed, purpose))


@dataclass(frozen=True)
class InitialHyperparameters:
    """Initial hyperparameters in natural units."""

    lr: float
    weight_decay: float
    momentum: float
    lr_multiplier: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def draw_initial(seed: int, config: dict[str, Any]) -> InitialHyperparameters:
    """Draw (or take explicitly configured) initial hyperparameters for ``seed``.

    Four uniforms are always drawn in the same order, whatever is fixed, so every algorithm of an
    experiment gets the same values for the same seed (paired comparisons).
    """
    gen = generator_for(seed, "hyperparameters")
    u = torch.rand(4, generator=gen, dtype=torch.float64).tolist()
    init = config["init"]
    lo, hi = init["lr_log10"]
    lr = 10.0 ** (lo + (hi - lo) * u[0])
    lo, hi = init["weight_decay_log10"]
    wd = 10.0 ** (lo + (hi - lo) * u[1])
    mom_spec = init["momentum"]
    if isinstance(mom_spec, (int, float)):
        momentum = float(mom_spec)
    else:
        lo, hi = mom_spec
        momentum = lo + (hi - lo) * u[2]
    lo, hi = init["lr_multiplier"]
    multiplier = lo + (hi - lo) * u[3]
    return InitialHyperparameters(
        lr=float(config["lr"]) if config["lr"] is not None else lr,
        weight_decay=float(config["weight_decay"]) if config["weight_decay"] is not None else wd,
        momentum=float(config["momentum"]) if config["momentum"] is not None else momentum,
        lr_multiplier=float(config["lr_multiplier"]) if config["lr_multiplier"] is not None else multiplier,
    )


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

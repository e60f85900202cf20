"""Seeded initial state of a run: derived per-purpose seeds and the initial hyperparameters.

Seed *k* fixes a run's initial hyperparameters, initial weights and data order, whichever algorithm
trains it, so that comparisons between algorithms are paired.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import torch

from .run_config import RunConfig


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


def draw_initial(seed: int, config: RunConfig) -> InitialHyperparameters:
    """Draw (or take explicitly configured) initial hyperparameters for ``seed``.

    Four uniforms are always drawn in the same order, whatever is fixed, so every algorithm of an
    experiment gets the same values for the same seed (paired comparisons).
    """
    gen = generator_for(seed, "hyperparameters")
    u = torch.rand(4, generator=gen, dtype=torch.float64).tolist()
    init = config.init
    lo, hi = init.lr_log10
    lr = 10.0 ** (lo + (hi - lo) * u[0])
    lo, hi = init.weight_decay_log10
    wd = 10.0 ** (lo + (hi - lo) * u[1])
    if isinstance(init.momentum, (int, float)):
        momentum = float(init.momentum)
    else:
        lo, hi = init.momentum
        momentum = lo + (hi - lo) * u[2]
    lo, hi = init.lr_multiplier
    multiplier = lo + (hi - lo) * u[3]
    return InitialHyperparameters(
        lr=float(config.lr) if config.lr is not None else lr,
        weight_decay=float(config.weight_decay) if config.weight_decay is not None else wd,
        momentum=float(config.momentum) if config.momentum is not None else momentum,
        lr_multiplier=float(config.lr_multiplier) if config.lr_multiplier is not None else multiplier,
    )

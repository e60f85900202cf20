"""onepass: one-pass hyperparameter optimisation by implicit differentiation.

The public entry point for your own models is :class:`onepass.HyperSGD`: SGD with weight decay and
momentum whose learning rate (optionally one per weight), weight decay and momentum are tuned
online from a validation loss, at the cost of a few extra backward passes every
``update_interval`` steps (Clarke, Oldewage & Hernández-Lobato, ICLR 2022).

Attributes are imported lazily so that light-weight parts (dataset fetching, the Snakefile's
config checks) do not pay for importing torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["HyperSGD", "StepResult", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("HyperSGD", "StepResult"):
        from .hypersgd import optimiser

        return getattr(optimiser, name)
    raise AttributeError(f"module 'onepass' has no attribute {name!r}")

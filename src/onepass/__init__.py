"""onepass: one-pass hyperparameter optimisation by implicit differentiation.

The public entry point for your own models is :class:`onepass.HyperSGD`: SGD with weight decay and
momentum whose learning rate (optionally one per weight), weight decay and momentum are tuned
online from a validation loss, at the cost of a few extra backward passes every
``update_interval`` steps (Clarke, Oldewage & Hernández-Lobato, ICLR 2022).
"""

from .optim import HyperSGD, StepResult

__version__ = "0.1.0"
__all__ = ["HyperSGD", "StepResult", "__version__"]

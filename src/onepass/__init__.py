"""onepass: one-pass hyperparameter optimisation by implicit differentiation."""

__version__ = "0.1.0"

"""Layer 1, the optimiser: :class:`HyperSGD` and the mathematics behind it.

SGD with weight decay and momentum that tunes its own hyperparameters online (``optimiser``: state
and public interface), one step-kernel class per ``method=`` value (``methods``, table ``METHODS``),
the weight swap for differentiated steps (``slots``), the hypergradient computations
(``hypergradients``), the raw <-> natural transforms (``transforms``) and the Adam step on the
hyperparameters (``adam``). It depends on torch alone; everything else in the package builds on
it, never the other way round.
"""

from .optimiser import HyperSGD, StepResult

__all__ = ["HyperSGD", "StepResult"]

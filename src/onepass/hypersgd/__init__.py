"""Layer 1, the optimiser: :class:`HyperSGD` and the mathematics behind it.

SGD with weight decay and momentum that tunes its own hyperparameters online (``optimiser``: a
``torch.optim.Optimizer`` with the state and public interface), one functional step kernel per
``method=`` value (``methods``, table ``METHODS``), the in-place SGD update (``updates``), the user's
closures and their errors (``closures``), constructor checks (``checks``), the checkpoint format
(``state``), twice-differentiable kernels for differentiated steps (``backends``), the weight swap
(``slots``), the hypergradient computations (``hypergradients``), the raw <-> natural transforms
(``transforms``) and the Adam step on the hyperparameters (``adam``). It depends on torch alone;
everything else in the package builds on it, never the other way round.
"""

from .optimiser import HyperSGD, StepResult

__all__ = ["HyperSGD", "StepResult"]

"""Hypergradient mathematics, written on plain ``torch.autograd``.

Notation (DESIGN.md section 4): weights are updated by SGD with weight decay and momentum,
``d = mu * b + g(w) + xi * w`` and ``w_new = w - eta * d``. Write ``u(w, lambda) = eta * d`` for the
update, so ``w_new = w - u``. At a fixed point of training u = 0, and the implicit function theorem
gives ``dL_V/dlambda = -(dL_V/dw) (du/dw)^-1 (du/dlambda)``. The paper approximates the inverse with
the first ``i`` terms of its Neumann series, ``sum_{j<i} (I - du/dw)^j``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

Tensors = Sequence[torch.Tensor]


def sgd_direction(
    grads: Tensors,
    weights: Tensors,
    buffers: Tensors | None,
    weight_decay: float | torch.Tensor,
    momentum: float | torch.Tensor,
) -> list[torch.Tensor]:
    """The momentum buffer after one step, ``mu * b + g + xi * w`` (PyTorch's SGD form).

    With ``buffers is None`` (the very first step of a run) the buffer is ``g + xi * w``, as in
    ``torch.optim.SGD``. Works both on plain floats (hot path) and on graph tensors (tracked steps).
    """
    if buffers is None:
        return [g + weight_decay * w for g, w in zip(grads, weights)]
    return [momentum * b + g + weight_decay * w for g, w, b in zip(grads, weights, buffers)]


def scale_by_lr(direction: Tensors, lr: float | torch.Tensor | Tensors) -> list[torch.Tensor]:
    """``u = eta * d`` for a scalar lr or one lr tensor per weight tensor (high-dimensional lr)."""
    if isinstance(lr, (list, tuple)):
        return [eta * d for eta, d in zip(lr, direction)]
    return [lr * d for d in direction]


def clip_grad_norm(grads: Tensors, max_norm: float) -> list[torch.Tensor]:
    """Out-of-place gradient-norm clipping that autograd can differentiate through.

    Same rule as ``torch.nn.utils.clip_grad_norm_``: scale by ``max_norm / (norm + 1e-6)`` when that
    is below one. It is out of place so that a tracked step keeps the graph of the clipping.
    """
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    factor = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
    return [g * factor for g in grads]


def neumann_hypergradient(
    update: Tensors,
    weights_before: Tensors,
    hyperparameters: Tensors,
    validation_grad: Tensors,
    lookback: int,
    transposed_jacobian_product: Callable[[list[torch.Tensor]], list[torch.Tensor]] | None = None,
) -> list[torch.Tensor]:
    """Implicit hypergradient of the validation loss through the last update (Neumann series).

    ``update`` is the graph of ``u(w_before, lambda)``; ``validation_grad`` is dL_V/dw at the new
    weights. Computes ``p_0 = v``, ``p_j = p_{j-1} - (du/dw)^T p_{j-1}``, ``S = sum_{j<i} p_j`` and
    returns ``-(du/dlambda)^T S``: one retained graph and ``i`` vector-Jacobian products, which is
    why the method costs about as much as a few extra backward passes per hyperparameter step.
    ``transposed_jacobian_product`` may supply ``(du/dw)^T p`` more cheaply than autograd through
    ``update`` (HyperSGD uses the update's known structure).
    """
    if lookback < 1:
        raise ValueError(f"lookback must be >= 1, got {lookback}")
    term = [v.detach() for v in validation_grad]
    total = [v.clone() for v in term]
    for _ in range(lookback - 1):
        if transposed_jacobian_product is not None:
            jvp = transposed_jacobian_product(term)
        else:
            jvp = torch.autograd.grad(update, weights_before, grad_outputs=term, retain_graph=True)
        term = [p - j for p, j in zip(term, jvp)]
        total = [s + p for s, p in zip(total, term)]
    grads = torch.autograd.grad(update, hyperparameters, grad_outputs=total, allow_unused=True)
    return [torch.zeros_like(h) if g is None else -g for g, h in zip(grads, hyperparameters)]


def baydin_hypergradient(new_grads: Tensors, previous_grads: Tensors) -> torch.Tensor:
    """Hypergradient-descent signal of Baydin et al.: ``-grad L(w_t) . grad L(w_{t-1})``.

    The authors apply it directly to log10 lr (no chain-rule factor, REFERENCE.md 4); we keep that.
    """
    return -sum((a * b).sum() for a, b in zip(new_grads, previous_grads))


def comparison_table(dataset_config, network_weight_steps, lookbacks, seeds, data_dir="resources/data", device="cpu"):
    """Neumann vs exact first-step hypergradients per (T, i, seed); see :mod:`onepass.comparison`."""
    from .comparison import comparison_table as table  # late import: comparison depends on the trainer

    return table(dataset_config, network_weight_steps, lookbacks, seeds, data_dir=data_dir, device=device)

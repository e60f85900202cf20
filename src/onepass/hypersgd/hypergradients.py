"""The SGD update and its derivatives (hypergradient mathematics), on plain ``torch.autograd``.

Notation: weights are updated by SGD with weight decay and momentum,
``d = mu * b + g(w) + xi * w`` and ``w_new = w - eta * d``. Write ``u(w, lambda) = eta * d`` for the
update, so ``w_new = w - u``. At a fixed point of training u = 0, and the implicit function theorem
gives ``dL_V/dlambda = -(dL_V/dw) (du/dw)^-1 (du/dlambda)``. The paper approximates the inverse with
the first ``i`` terms of its Neumann series, ``sum_{j<i} (I - du/dw)^j``.

The update itself (:func:`sgd_update_`, :func:`grouped_sgd_update_`) is the fast path of every
step: ``torch._foreach`` operations on the whole list of weights, with hyperparameters as plain
floats (or one lr tensor per weight tensor), no graph. State goes in and out explicitly, as in
``torch.optim._functional``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

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


def neumann_series(
    validation_grad: Tensors,
    next_term: Callable[[list[torch.Tensor]], list[torch.Tensor]],
    lookback: int,
) -> list[torch.Tensor]:
    """``S = sum_{j<i} ((I - du/dw)^T)^j v``, the Neumann approximation of ``(du/dw)^-T v``.

    ``next_term(p)`` returns ``p - (du/dw)^T p`` and may overwrite ``p`` to do so; each call costs one
    Hessian-vector product, so the series costs ``i - 1`` of them. The implicit hypergradient is then
    ``-(du/dlambda)^T S``. Sums are in place on whole tensor lists (``torch._foreach_*``): one
    kernel per operation on a GPU, and no extra copies of weight-sized vectors.
    """
    if lookback < 1:
        raise ValueError(f"lookback must be >= 1, got {lookback}")
    term = [v.detach().clone() for v in validation_grad]
    total = [t.clone() for t in term]
    for _ in range(lookback - 1):
        term = next_term(term)
        torch._foreach_add_(total, term)
    return total


def sgd_update_vjp(
    series: Tensors,
    names: Sequence[str],
    weights: Tensors,
    previous_buffers: Tensors | None,
    direction: Tensors,
    lr: float | torch.Tensor,
) -> dict[str, torch.Tensor]:
    """``(du/dlambda)^T S`` for the SGD update ``u = eta * (mu * b + g(w) + xi * w)``, natural units.

    The gradient ``g`` (clipped or not) does not depend on the hyperparameters, so the partial
    derivatives are closed-form: ``du/deta = d``, ``du/dxi = eta * w``, ``du/dmu = eta * b``. This
    replaces a backward pass through the update's graph. A per-parameter ``lr`` is flat (all weights
    concatenated) and gets a flat vector of per-element values; the other entries are 0-dim tensors.
    """
    series = flatten(series)
    out: dict[str, torch.Tensor] = {}
    for name in names:
        if name == "lr":
            d = flatten(direction)
            out[name] = series * d if isinstance(lr, torch.Tensor) else series @ d
        elif name == "momentum" and previous_buffers is None:
            out[name] = series.new_zeros(())  # the first update of a run has no momentum term
        elif name in ("weight_decay", "momentum"):
            source = flatten(weights if name == "weight_decay" else previous_buffers)  # type: ignore[arg-type]
            out[name] = series @ (source * lr) if isinstance(lr, torch.Tensor) else lr * (series @ source)
        else:
            raise KeyError(name)
    return out


def flatten(tensors: Tensors) -> torch.Tensor:
    """All tensors as one flat vector (weights in parameter order)."""
    return torch.cat([t.reshape(-1) for t in tensors])


def baydin_hypergradient(new_grads: Tensors, previous_grads: Tensors) -> torch.Tensor:
    """Hypergradient-descent signal of Baydin et al.: ``-grad L(w_t) . grad L(w_{t-1})``.

    The authors apply it directly to log10 lr (no chain-rule factor); we keep that (docs/FIDELITY.md).
    """
    return -sum((a * b).sum() for a, b in zip(new_grads, previous_grads))


# ------------------------------------------------------------------ the update itself (no graph)
@torch.no_grad()
def sgd_update_(
    params: list[torch.Tensor],
    grads: Sequence[torch.Tensor],
    buffers: list[torch.Tensor] | None,
    natural: dict[str, Any],
) -> list[torch.Tensor]:
    """``b = mu * b + g + xi * w; w -= eta * b`` in place; returns the momentum buffers ``b``.

    With ``buffers is None`` (the first step of a run) the buffers are ``g + xi * w``, as in
    ``torch.optim.SGD``; they are then new tensors, otherwise ``buffers`` itself, updated in place.
    """
    wd, mom, lr = natural["weight_decay"], natural["momentum"], natural["lr"]
    direction = torch._foreach_add(grads, params, alpha=wd) if wd != 0 else [g.clone() for g in grads]
    if buffers is None:
        buffers = direction
    else:
        torch._foreach_mul_(buffers, mom)
        torch._foreach_add_(buffers, direction)
    if isinstance(lr, list):
        torch._foreach_addcmul_(params, lr, buffers, value=-1.0)
    else:
        torch._foreach_add_(params, buffers, alpha=-lr)
    return buffers


def grouped_sgd_update_(
    params: list[torch.Tensor],
    grads: Sequence[torch.Tensor],
    buffers: list[torch.Tensor] | None,
    groups: Sequence[slice],
    natural: Sequence[dict[str, Any]],
) -> list[torch.Tensor]:
    """:func:`sgd_update_` on each param group's slice with that group's values, as ``torch.optim.SGD``.

    One group is one call on the whole lists (the arithmetic of a single-group optimiser, bit for bit).
    """
    if len(groups) == 1:
        return sgd_update_(params, grads, buffers, natural[0])
    out: list[torch.Tensor] = []
    for s, values in zip(groups, natural):
        out.extend(sgd_update_(params[s], grads[s], None if buffers is None else buffers[s], values))
    return out

"""The SGD weight update (PyTorch's momentum and weight-decay form), as a functional in-place kernel.

It is the fast path of every step: ``torch._foreach`` operations on the whole list of weights, with
hyperparameters as plain floats (or one lr tensor per weight tensor), no graph. State goes in and
out explicitly, as in ``torch.optim._functional``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


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

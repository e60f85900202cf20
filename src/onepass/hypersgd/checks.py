"""HyperSGD's constructor checks: the values the CLI refuses, and models it cannot train correctly.

Every check raises at construction, with the argument's name and what to change, rather than at
the tenth step or not at all (a DDP replica that silently drifts, a compiled model without double
backward).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .transforms import HYPERPARAMETER_NAMES


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_model(model: Any) -> nn.Module:
    """The module HyperSGD can train, or an error that says what was passed instead and why not."""
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"HyperSGD takes the model itself (an nn.Module), got {type(model).__name__}: write "
            "HyperSGD(model, lr=...), not HyperSGD(model.parameters(), ...). It needs the module to "
            "evaluate your loss at other weights; choose parameters with param_groups=[...]"
        )
    if isinstance(model, nn.parallel.DistributedDataParallel) or _distributed_world_size() > 1:
        raise ValueError(
            "HyperSGD does not support DistributedDataParallel or multi-process training: its gradients "
            "and hypergradients come from torch.autograd.grad, which bypasses DDP's all-reduce, so the "
            "replicas would drift apart. Train in one process"
        )
    if type(model).__name__ == "OptimizedModule" or hasattr(model, "_orig_mod"):
        raise ValueError(
            "HyperSGD cannot train a torch.compile'd module: compiled graphs have no double backward, "
            "which the hypergradient needs. Pass the original module (model._orig_mod); compiling "
            "submodules you only evaluate under torch.no_grad() is fine"
        )
    return model


def _distributed_world_size() -> int:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def check_arguments(
    *,
    lr: Any,
    weight_decay: Any,
    momentum: Any,
    update_interval: Any,
    lookback: Any,
    hyper_lr: Any,
    lr_clip: Any,
    grad_clip_norm: Any,
    baydin_lr: Any,
) -> None:
    """The checks of the CLI's run-settings validation, as ValueErrors naming the argument."""
    if not (_finite_number(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if not (_finite_number(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
    if not (_finite_number(momentum) and 0 <= momentum < 1):
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    for name, value in (("update_interval", update_interval), ("lookback", lookback)):
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    for name, value in (("hyper_lr", hyper_lr), ("baydin_lr", baydin_lr)):
        if not (_finite_number(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    if grad_clip_norm is not None and not (_finite_number(grad_clip_norm) and grad_clip_norm > 0):
        raise ValueError(f"grad_clip_norm must be a positive finite number or None, got {grad_clip_norm!r}")
    if lr_clip is not None:
        if not (
            isinstance(lr_clip, (tuple, list)) and len(lr_clip) == 2 and all(_finite_number(v) for v in lr_clip)
        ):
            raise ValueError(f"lr_clip must be (low, high) bounds of log10 lr, or None; got {lr_clip!r}")
        low, high = lr_clip
        if low > high:
            raise ValueError(f"lr_clip is reversed: low {low} > high {high} (log10 units)")
        if not low <= math.log10(lr) <= high:
            raise ValueError(
                f"the initial lr {lr:g} (log10 {math.log10(lr):.3g}) is outside lr_clip {tuple(lr_clip)}: "
                "the first hyperparameter step would jump it to the bound; start inside or widen lr_clip"
            )


def default_tune(weight_decay: float, momentum: float) -> tuple[str, ...]:
    """What ``tune=None`` tunes: lr, and weight decay and momentum where their start can be tuned.

    They are optimised in log10 and logit space, so a weight decay or momentum of exactly 0 stays
    fixed at 0 (pass a small positive value to tune it).
    """
    out = ["lr"]
    if weight_decay > 0:
        out.append("weight_decay")
    if 0 < momentum < 1:
        out.append("momentum")
    return tuple(out)


def check_tune(tune: Sequence[str]) -> None:
    if isinstance(tune, str):
        raise TypeError(f"tune must be a sequence of names, e.g. ({tune!r},), not the string {tune!r}")
    unknown = set(tune) - set(HYPERPARAMETER_NAMES)
    if unknown:
        raise ValueError(f"tune: unknown hyperparameters {sorted(unknown)}; allowed: {HYPERPARAMETER_NAMES}")

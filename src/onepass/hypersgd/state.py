"""HyperSGD's checkpoint format: built, validated before anything changes, and cast on load.

A state is plain tensors, numbers and strings (``torch.load(weights_only=True)`` reads it). Loading
checks everything first (that it is a HyperSGD state, for the same method, tuned hyperparameters,
parameter shapes and counters in range), so a mismatched checkpoint raises and leaves the optimiser
as it was; then every tensor is cast to the dtype and device of what it replaces (a state saved on
a GPU loads on a CPU, a float64 state into a float32 model).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

FORMAT = "onepass.HyperSGD"
KEYS = ("raw", "fixed", "buffers", "step_in_window", "hyperparameter_steps", "hyper_optimiser")


def _shapes(value: Any) -> list[tuple[int, ...]]:
    items = value if isinstance(value, (list, tuple)) else [value]
    if not all(isinstance(t, torch.Tensor) for t in items):
        raise ValueError("expected tensors")
    return [tuple(t.shape) for t in items]


def _counter(state: dict[str, Any], key: str, low: int, high: int | None) -> None:
    value = state[key]
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if not is_int or value < low or (high is not None and value >= high):
        bound = f"[{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"HyperSGD.load_state_dict: {key}={value!r} is out of range {bound} for this optimiser")


GroupShape = tuple[dict[str, Any], Sequence[str], list[tuple[int, ...]] | None]
"""What a group's saved part must match: its raw tensors, its fixed names, its Adam state's shapes."""


def validate(
    state: Any,
    *,
    method: str | None,
    groups: Sequence[GroupShape],
    params: Sequence[torch.Tensor],
    update_interval: int,
) -> None:
    """Raise ValueError unless ``state`` is a HyperSGD state this optimiser can continue from.

    The first param group's entries are at the top level (the layout of a one-group state, so
    checkpoints from before param groups load unchanged); the others' are in ``state["groups"]``.
    """
    where = "HyperSGD.load_state_dict"
    if not isinstance(state, dict):
        raise ValueError(f"{where}: expected the dict of HyperSGD.state_dict(), got {type(state).__name__}")
    if "param_groups" in state and "raw" not in state:
        raise ValueError(f"{where}: this is another optimiser's state_dict (torch.optim keys), not HyperSGD's")
    missing = [k for k in KEYS if k not in state]
    if missing:
        raise ValueError(f"{where}: not a HyperSGD state (missing {missing}; has {sorted(state)})")
    if state.get("format", FORMAT) != FORMAT:
        raise ValueError(f"{where}: the state's format is {state['format']!r}, not {FORMAT!r}")
    if "method" in state and state["method"] != method:
        raise ValueError(f"{where}: the state is for method={state['method']!r}, this optimiser has {method!r}")
    others = state.get("groups", [])
    if not isinstance(others, list) or len(others) != len(groups) - 1:
        count = 1 + len(others) if isinstance(others, list) else "?"
        raise ValueError(f"{where}: the state has {count} param groups, this optimiser has {len(groups)}")
    for index, (part, shape) in enumerate(zip([state, *others], groups)):
        _validate_group(part, *shape, where=where if index == 0 else f"{where} (param group {index})")
    buffers = state["buffers"]
    if buffers is not None:
        try:
            ok = _shapes(list(buffers)) == _shapes(list(params))
        except (ValueError, TypeError):
            ok = False
        if not ok:
            raise ValueError(f"{where}: the momentum buffers do not match the model's parameter shapes")
    _counter(state, "step_in_window", 0, update_interval)
    _counter(state, "hyperparameter_steps", 0, None)


def _validate_group(
    part: Any,
    raw: dict[str, Any],
    fixed_names: Sequence[str],
    adam_shapes: list[tuple[int, ...]] | None,
    *,
    where: str,
) -> None:
    """One param group's raw tensors, fixed values and Adam state against this optimiser's."""
    if not isinstance(part, dict) or {"raw", "fixed", "hyper_optimiser"} - set(part):
        raise ValueError(f"{where}: a param group's state needs 'raw', 'fixed' and 'hyper_optimiser'")
    if set(part["raw"]) != set(raw):
        raise ValueError(f"{where}: the state tunes {sorted(part['raw'])}, this optimiser tunes {sorted(raw)}")
    for name, target in raw.items():
        try:
            ok = _shapes(part["raw"][name]) == _shapes(target)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{where}: the tuned {name!r} has other shapes than this optimiser's (per_parameter_lr?)")
    if set(part["fixed"]) != set(fixed_names):
        raise ValueError(
            f"{where}: the state fixes {sorted(part['fixed'])}, this optimiser fixes {sorted(fixed_names)}"
        )
    adam = part["hyper_optimiser"]
    if adam is not None and adam_shapes is not None:
        if not isinstance(adam, dict) or {"steps", "exp_avg", "exp_avg_sq"} - set(adam):
            raise ValueError(f"{where}: hyper_optimiser is not a HyperparameterAdam state")
        _counter(adam, "steps", 0, None)
        for key in ("exp_avg", "exp_avg_sq"):
            try:
                ok = _shapes(list(adam[key])) == adam_shapes
            except (ValueError, TypeError):
                ok = False
            if not ok:
                raise ValueError(f"{where}: hyper_optimiser.{key} does not match the tuned hyperparameters")


def cast_like(tensors: Sequence[torch.Tensor], like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Copies of ``tensors`` with the dtype and device of ``like`` (element by element)."""
    return [t.detach().to(dtype=r.dtype, device=r.device, copy=True) for t, r in zip(tensors, like)]

"""One param group's hyperparameters: tuned ones as raw leaf tensors, fixed ones as plain values.

``torch.optim`` optimisers keep settings per entry of ``param_groups`` (the usual recipe: no weight
decay on biases and norm layers). HyperSGD tunes those settings, so each group owns its raw tensors,
its fixed values and its Adam state: a group's hypergradient moves only that group's values, and a
group built with ``tune=()`` keeps the values it was given. With one group (the default, and what
the pipeline uses) this is the single set of hyperparameters of the paper.

This module also turns the ``param_groups=[...]`` argument into checked group specifications
(:func:`parse_groups`), so that a group missing a parameter, or naming one twice, fails at
construction rather than leaving weights untrained.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .adam import HyperparameterAdam
from .checks import check_tune
from .state import cast_like
from .transforms import HYPERPARAMETER_NAMES, from_raw, to_raw

GROUP_KEYS = ("params", *HYPERPARAMETER_NAMES, "tune")


def hyper_dtype(dtype: torch.dtype) -> torch.dtype:
    """Hyperparameters and their Adam state stay float32 for half-precision models."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def ordered(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` in the canonical order (lr, weight_decay, momentum) that fixes the raw tensors' order."""
    return tuple(name for name in HYPERPARAMETER_NAMES if name in names)


def tunable(name: str, value: float) -> bool:
    """Whether a start value can be tuned: log10/logit space cannot leave 0 (or reach momentum 1)."""
    return value > 0 if name in ("lr", "weight_decay") else 0 < value < 1


@dataclass
class GroupSpec:
    """A checked entry of ``param_groups``: its tensors, initial natural values and tuned names."""

    params: list[torch.Tensor]
    values: dict[str, float]
    tune: tuple[str, ...]


def parse_group(
    group: Any,
    where: str,
    defaults: dict[str, float],
    inherited_tune: Sequence[str],
    adjust: Callable[[Sequence[str]], Sequence[str]],
) -> GroupSpec:
    """One ``param_groups`` entry as a :class:`GroupSpec`; unset values come from ``defaults``.

    Without its own ``tune`` a group tunes the optimiser's names that its start values allow (a group
    with ``weight_decay=0`` keeps it at 0 instead of failing); ``tune=()`` excludes the group.
    ``adjust`` is the method's check of an explicit ``tune`` (Baydin tunes lr only; no method, nothing).
    """
    if not isinstance(group, dict) or "params" not in group:
        raise TypeError(f"{where} must be a dict with a 'params' entry, got {type(group).__name__}")
    unknown = set(group) - set(GROUP_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; a group may set {GROUP_KEYS}")
    params = group["params"]
    params = [params] if isinstance(params, torch.Tensor) else list(params)
    if not params:
        raise ValueError(f"{where} has no parameters")
    values = {name: group.get(name, defaults[name]) for name in HYPERPARAMETER_NAMES}
    explicit = group.get("tune")
    if explicit is None:
        tune = tuple(name for name in inherited_tune if tunable(name, values[name]))
    else:
        check_tune(explicit)
        tune = ordered(adjust(explicit)) if explicit else ()
        fixed_at_bound = [name for name in tune if not tunable(name, values[name])]
        if fixed_at_bound:
            raise ValueError(
                f"{where} tunes {fixed_at_bound} from {[values[n] for n in fixed_at_bound]}: log10/logit "
                "space cannot leave 0; start from a small positive value or leave it out of tune"
            )
    return GroupSpec(params, values, tune)


def check_coverage(model: nn.Module, groups: Sequence[GroupSpec]) -> None:
    """Every trainable parameter of ``model`` is in exactly one group, and nothing else is."""
    names = {id(p): n for n, p in model.named_parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    seen: set[int] = set()
    for index, group in enumerate(groups):
        for p in group.params:
            if id(p) in seen:
                raise ValueError(f"param_groups: {names.get(id(p), 'a tensor')} is in more than one group")
            if id(p) not in names or not p.requires_grad:
                raise ValueError(
                    f"param_groups[{index}] holds a tensor that is not a trainable parameter of the model "
                    "(HyperSGD trains the model's parameters with requires_grad=True)"
                )
            seen.add(id(p))
    missing = [names[id(p)] for p in trainable if id(p) not in seen]
    if missing:
        raise ValueError(
            f"param_groups leave trainable parameters out: {missing}. HyperSGD trains every trainable "
            "parameter of its model: put them in a group (tune=() keeps a group's values fixed) or "
            "set requires_grad=False on them"
        )


@dataclass
class HyperGroup:
    """The hyperparameters of one param group and their Adam state (None when nothing is tuned).

    ``natural`` caches the natural values for the fast path: floats, or one lr tensor per weight
    tensor for a per-parameter lr. They only change at hyperparameter steps (:meth:`refresh`).
    """

    params: list[torch.Tensor]
    tune: tuple[str, ...]
    raw: dict[str, torch.Tensor | list[torch.Tensor]]
    fixed: dict[str, Any]
    adam: HyperparameterAdam | None = None
    natural: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, spec: GroupSpec, *, per_parameter_lr: bool, hyper_lr: float | None) -> HyperGroup:
        """Raw leaf tensors for the tuned names (one per weight tensor for a per-parameter lr).

        ``hyper_lr=None``: no Adam (Baydin's SGD or no tuning).
        """
        reference = spec.params[0]
        dtype = hyper_dtype(reference.dtype)
        raw: dict[str, torch.Tensor | list[torch.Tensor]] = {}
        for name in spec.tune:
            value = to_raw(name, spec.values[name])
            if name == "lr" and per_parameter_lr:
                raw[name] = [torch.full_like(p, value, dtype=dtype, requires_grad=True) for p in spec.params]
            else:
                raw[name] = torch.tensor(value, dtype=dtype, device=reference.device, requires_grad=True)
        fixed = {k: float(v) for k, v in spec.values.items() if k not in spec.tune}
        group = cls(list(spec.params), spec.tune, raw, fixed)
        if hyper_lr is not None and spec.tune:
            group.adam = HyperparameterAdam(group.raw_tensors(), lr=hyper_lr)
        group.refresh()
        return group

    def raw_tensors(self) -> list[torch.Tensor]:
        """The optimised raw tensors in a fixed order (lr, weight_decay, momentum)."""
        out: list[torch.Tensor] = []
        for name in self.tune:
            value = self.raw[name]
            out.extend(value if isinstance(value, list) else [value])
        return out

    def refresh(self) -> None:
        """Recompute the cached natural values from the raw tensors and the fixed values."""
        with torch.no_grad():
            cache: dict[str, Any] = dict(self.fixed)
            for name in self.tune:
                value = self.raw[name]
                if isinstance(value, list):
                    cache[name] = [from_raw(name, v).to(p.dtype) for v, p in zip(value, self.params)]
                else:
                    cache[name] = float(from_raw(name, value))
        self.natural = cache

    def natural_graph(self) -> dict[str, Any]:
        """Natural values as functions of the raw tensors, for differentiated steps."""
        out: dict[str, Any] = dict(self.fixed)
        for name in self.tune:
            value = self.raw[name]
            out[name] = [from_raw(name, v) for v in value] if isinstance(value, list) else from_raw(name, value)
        return out

    def values(self) -> dict[str, float]:
        """Current natural values; a per-parameter lr is reported as its mean."""
        out = {}
        for name in HYPERPARAMETER_NAMES:
            value = self.natural[name]
            if isinstance(value, list):
                out[name] = float(torch.cat([v.reshape(-1) for v in value]).mean())
            else:
                out[name] = float(value)
        return out

    @torch.no_grad()
    def set_values(self, values: dict[str, float]) -> None:
        """Set natural values, tuned (raw tensors filled) or fixed; call :meth:`refresh` afterwards."""
        for name, value in values.items():
            if name in self.raw:
                target = self.raw[name]
                for t in target if isinstance(target, list) else [target]:
                    t.fill_(to_raw(name, float(value)))
            else:
                self.fixed[name] = float(value)

    @torch.no_grad()
    def clip_lr(self, lr_clip: tuple[float, float] | None) -> None:
        """Clamp a tuned log10 lr to ``lr_clip`` in place."""
        if lr_clip is None or "lr" not in self.raw:
            return
        value = self.raw["lr"]
        for tensor in value if isinstance(value, list) else [value]:
            tensor.clamp_(lr_clip[0], lr_clip[1])

    def freeze(self, names: Sequence[str]) -> None:
        """Stop tuning ``names``: they keep their current values; Adam keeps the others' state."""
        keep = tuple(n for n in self.tune if n not in names)
        for name in self.tune:
            if name not in keep:
                value = self.natural[name]
                self.fixed[name] = [v.detach().clone() for v in value] if isinstance(value, list) else value
        owner = [n for n in self.tune for _ in (self.raw[n] if isinstance(self.raw[n], list) else [0])]
        self.raw = {n: self.raw[n] for n in keep}
        if self.adam is not None:
            adam, index = self.adam, [i for i, n in enumerate(owner) if n in keep]
            adam.tensors = [adam.tensors[i] for i in index]
            adam.exp_avg = [adam.exp_avg[i] for i in index]
            adam.exp_avg_sq = [adam.exp_avg_sq[i] for i in index]
            if not keep:
                self.adam = None
        self.tune = keep
        self.refresh()

    @torch.no_grad()
    def follow(self) -> None:
        """The parameters were moved or cast (``.to``, ``.double()``): move and cast this state with them."""
        first = self.params[0]
        hyper = {"dtype": hyper_dtype(first.dtype), "device": first.device}
        for t in self.raw_tensors():
            t.data = t.data.to(**hyper)
        if self.adam is not None:
            self.adam.exp_avg = [t.to(**hyper) for t in self.adam.exp_avg]
            self.adam.exp_avg_sq = [t.to(**hyper) for t in self.adam.exp_avg_sq]
        for name, value in self.fixed.items():
            if isinstance(value, list):
                self.fixed[name] = cast_like(value, self.params)
        self.refresh()

    def adam_shapes(self) -> list[tuple[int, ...]] | None:
        """The shapes a saved Adam state must have to load into this group's (None: no Adam)."""
        return None if self.adam is None else [tuple(t.shape) for t in self.adam.exp_avg]

    def state_dict(self) -> dict[str, Any]:
        """This group's part of :meth:`HyperSGD.state_dict`: raw tensors, fixed values, Adam state."""
        return {
            "raw": {
                k: ([t.detach().clone() for t in v] if isinstance(v, list) else v.detach().clone())
                for k, v in self.raw.items()
            },
            "fixed": {k: ([t.clone() for t in v] if isinstance(v, list) else v) for k, v in self.fixed.items()},
            "hyper_optimiser": None if self.adam is None else self.adam.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output, already validated, cast to this group's dtype and device."""
        with torch.no_grad():
            for name, value in state["raw"].items():
                target = self.raw[name]
                for t, v in zip(*((target, value) if isinstance(target, list) else ([target], [value]))):
                    t.copy_(v)
        self.fixed = {
            k: (cast_like(v, self.params) if isinstance(v, list) else float(v)) for k, v in state["fixed"].items()
        }
        if self.adam is not None and state["hyper_optimiser"] is not None:
            self.adam.load_state_dict(state["hyper_optimiser"])
        self.refresh()

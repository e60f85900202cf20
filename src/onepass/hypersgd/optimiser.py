"""`HyperSGD`: SGD whose learning rate, weight decay and momentum tune themselves while it trains.

This is the engine behind every algorithm of the paper and the public API for users' own models: a
``torch.optim.Optimizer`` (``param_groups``, ``zero_grad``, ``state_dict``). It owns the weight
update, so it knows which steps to differentiate. As ``torch.optim`` separates an optimiser class
from its functional kernels, this module holds the state and the public interface; ``methods.py``
holds one kernel per ``method=`` value (table ``METHODS``), which gets the state explicitly:

* ``method="neumann"`` (the paper's method, and Lorraine et al. when only weight decay is tuned):
  implicit hypergradient at the last step of each window, with a ``lookback``-term Neumann series.
* ``method="exact"`` (Diff-through-Opt): the last ``lookback`` updates of each window are unrolled.
* ``method="baydin"``: hypergradient descent on log10 lr after every step.
* ``method=None``: plain SGD with fixed hyperparameters (the Random baselines).

All other steps take a fast path (no graph, ``torch._foreach`` updates), which is why the one-pass
methods cost little more than plain training. Those steps can be taken the ordinary way
(``loss.backward(); opt.step()``); the steps that are differentiated are given *closures*
``loss(model) -> Tensor``, evaluated with copies of the weights swapped into the module's parameter
slots (``slots.py``), so any ``nn.Module`` works unchanged.

Each entry of ``param_groups`` has its own hyperparameters (``groups.py``): its own start values,
its own tuned set (``tune=()`` keeps a group fixed), its own raw tensors and Adam state. With one
group, the default, every step is the single-group computation of the paper, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from .adam import HyperparameterAdam
from .backends import twice_differentiable
from .checks import check_arguments, check_model, check_tune, default_tune
from .closures import LossClosure, check_through_model, checked_loss
from .groups import GroupSpec, HyperGroup, check_coverage, ordered, parse_group
from .hypergradients import clip_grad_norm, grouped_sgd_update_
from .methods import METHODS, KernelOutput, StepResult, StepState
from .slots import _ParameterSlots
from .state import FORMAT, cast_like, validate
from .transforms import HYPERPARAMETER_NAMES

__all__ = ["METHODS", "HyperSGD", "LossClosure", "StepResult"]


class HyperSGD(torch.optim.Optimizer):
    """SGD (PyTorch's momentum/weight-decay form) with online hyperparameter optimisation.

    Args:
        model: the module whose trainable parameters are optimised (the module, not its parameters:
            HyperSGD evaluates your loss at other weights through it).
        lr, weight_decay, momentum: initial values in natural units (the defaults of every group).
        param_groups: optional ``torch.optim``-style groups that split the model's trainable
            parameters, each ``{"params": ..., "lr"/"weight_decay"/"momentum": start value,
            "tune": names}`` with every key but ``params`` optional. Each group's hyperparameters
            are its own, tuned by their own hypergradient; a group without ``tune`` tunes the names
            of ``tune`` that its start values allow (``weight_decay=0`` stays 0); ``tune=()``
            keeps the group's values fixed. Every trainable parameter must be in exactly one group.
        tune: which of ``"lr"``, ``"weight_decay"``, ``"momentum"`` to optimise; by default lr, and
            weight decay and momentum when they start above 0 (log10/logit space cannot leave 0).
        method: ``"neumann"`` (default), ``"exact"``, ``"baydin"`` or ``None``.
        per_parameter_lr: one learning rate per weight element (the paper's HDLR variant).
        update_interval: weight steps per hyperparameter step (T).
        lookback: Neumann terms (neumann) or unrolled steps (exact) (i).
        hyper_lr: learning rate of the Adam hyperparameter optimiser (on raw values).
        lr_clip: (low, high) bounds of log10 lr after each hyperparameter step, or None.
        grad_clip_norm: clip the training gradient's norm (differentiably), or None.
        baydin_lr: SGD step size on log10 lr for ``method="baydin"``.
        skip_nonfinite: leave the hyperparameters unchanged when a loss or hypergradient of a
            hyperparameter step is not finite (the step reports ``diverged=True`` either way).
    """

    def __init__(
        self,
        model: nn.Module,
        lr: float,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        *,
        param_groups: Sequence[dict[str, Any]] | None = None,
        tune: Sequence[str] | None = None,
        method: str | None = "neumann",
        per_parameter_lr: bool = False,
        update_interval: int = 10,
        lookback: int = 5,
        hyper_lr: float = 0.05,
        lr_clip: tuple[float, float] | None = (-10.0, 0.0),
        grad_clip_norm: float | None = None,
        baydin_lr: float = 1e-3,
        skip_nonfinite: bool = True,
    ) -> None:
        model = check_model(model)
        if method not in METHODS:
            raise ValueError(f"method must be one of {tuple(METHODS)}, got {method!r}")
        tune = default_tune(weight_decay, momentum) if tune is None else tune
        check_tune(tune)
        tune, update_interval = METHODS[method].adjust(tune, update_interval)
        check_arguments(
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            update_interval=update_interval,
            lookback=lookback,
            hyper_lr=hyper_lr,
            lr_clip=lr_clip if "lr" in tune else None,  # a fixed lr is not clipped
            grad_clip_norm=grad_clip_norm,
            baydin_lr=baydin_lr,
        )
        self.model = model
        self.method = method
        self._default_tune = ordered(tune)
        self.per_parameter_lr = per_parameter_lr
        self.update_interval = update_interval
        self.lookback = lookback
        self.hyper_lr = hyper_lr
        self.lr_clip = tuple(lr_clip) if lr_clip is not None else None
        self.grad_clip_norm = grad_clip_norm
        self.baydin_lr = baydin_lr
        self.skip_nonfinite = skip_nonfinite
        natural = {"lr": float(lr), "weight_decay": float(weight_decay), "momentum": float(momentum)}
        specs = self._group_specs(param_groups, natural)
        if per_parameter_lr and not any("lr" in spec.tune for spec in specs):
            raise ValueError("per_parameter_lr=True needs 'lr' in tune")
        self.params = [p for spec in specs for p in spec.params]
        by_id = {id(p): n for n, p in model.named_parameters()}
        self.names = [by_id[id(p)] for p in self.params]
        if len({p.device for p in self.params}) > 1:
            raise ValueError("HyperSGD needs all trainable parameters on one device (hypergradients span all of them)")
        self._constructing = True
        super().__init__([{"params": spec.params, **spec.values} for spec in specs], dict(natural))
        self._constructing = False
        self._index_parameters()
        self._method = METHODS[method]()
        self.hyper_groups = [self._build_group(spec) for spec in specs]
        self.buffers: list[torch.Tensor] | None = None
        self.step_in_window = 0
        self.hyperparameter_steps = 0
        self._publish_values()

    def _group_specs(self, param_groups: Sequence[dict[str, Any]] | None, natural: dict[str, float]) -> list[GroupSpec]:
        """The checked param groups: all trainable parameters in one group unless ``param_groups`` splits them."""
        if param_groups is None:
            params = [p for p in self.model.parameters() if p.requires_grad]
            if not params:
                raise ValueError("the model has no trainable parameters")
            return [GroupSpec(params, natural, self._default_tune)]
        if isinstance(param_groups, dict) or not param_groups:
            raise TypeError("param_groups must be a non-empty list of dicts, e.g. [{'params': ...}, ...]")
        specs = [self._parse_group(group, f"param_groups[{i}]", natural) for i, group in enumerate(param_groups)]
        check_coverage(self.model, specs)
        return specs

    def _parse_group(self, group: Any, where: str, defaults: dict[str, float]) -> GroupSpec:
        """One group's spec, its start values checked as the constructor's are."""
        spec = parse_group(group, where, defaults, self._default_tune, self._adjust_tune)
        try:
            check_arguments(
                **spec.values, update_interval=self.update_interval, lookback=self.lookback,
                hyper_lr=self.hyper_lr, lr_clip=self.lr_clip if "lr" in spec.tune else None,
                grad_clip_norm=self.grad_clip_norm, baydin_lr=self.baydin_lr,
            )  # fmt: skip
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        return spec

    def _adjust_tune(self, tune: Sequence[str]) -> Sequence[str]:
        """A group's tuned names as the method needs them (Baydin: lr only; no method: none)."""
        return METHODS[self.method].adjust(tune, self.update_interval)[0]

    def _build_group(self, spec: GroupSpec) -> HyperGroup:
        hyper_lr = self.hyper_lr if self._method.uses_adam else None
        return HyperGroup.build(spec, per_parameter_lr=self.per_parameter_lr, hyper_lr=hyper_lr)

    def _index_parameters(self) -> None:
        """Record which tensors are trained, where they sit in the model, and their dtype/device."""
        self._slots = _ParameterSlots(self.model, self.params)
        self._ids = {id(p) for p in self.params}
        self._dtype, self._device = self.params[0].dtype, self.params[0].device
        bounds, start = [], 0
        for group in self.param_groups:
            bounds.append(slice(start, start + len(group["params"])))
            start += len(group["params"])
        self._group_slices = bounds

    # ------------------------------------------------------------------ torch.optim contract
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Train more of the model's parameters (say, a new head or an unfrozen layer) from now on.

        The group may set its own ``lr``, ``weight_decay``, ``momentum`` and ``tune``, as at
        construction; unset values are the constructor's start values (``torch.optim``'s defaults;
        pass ``lr=opt.param_groups[0]["lr"]`` to start from a group's current value). Its momentum
        starts at zero (the same update as ``torch.optim.SGD``'s first step for them).
        """
        if self._constructing:
            super().add_param_group(param_group)
            return
        if getattr(self._method, "_segment", None) is not None:
            raise ValueError("add_param_group inside the unrolled steps of method='exact': call it between windows")
        spec = self._parse_group(param_group, "add_param_group", dict(self.defaults))
        model_ids = {id(p) for p in self.model.parameters()}
        if any(id(p) not in model_ids for p in spec.params):
            raise ValueError("add_param_group: HyperSGD trains only parameters of its model (add the module first)")
        super().add_param_group({"params": spec.params, **spec.values})
        self.params.extend(spec.params)
        by_id = {id(p): n for n, p in self.model.named_parameters()}
        self.names.extend(by_id[id(p)] for p in spec.params)
        if self.buffers is not None:
            self.buffers = [*self.buffers, *(torch.zeros_like(p) for p in spec.params)]
        self._index_parameters()
        self.hyper_groups.append(self._build_group(spec))
        self._publish_values()

    def __repr__(self) -> str:
        settings = (
            f"method={self.method!r}, per_parameter_lr={self.per_parameter_lr}, "
            f"update_interval={self.update_interval}, lookback={self.lookback}, hyper_lr={self.hyper_lr}, "
            f"lr_clip={self.lr_clip}, grad_clip_norm={self.grad_clip_norm}"
        )
        lines = []
        for index, group in enumerate(self.hyper_groups):
            values = ", ".join(f"{k}={v:.4g}" for k, v in group.values().items())
            size = f"{len(group.params)} tensors, {sum(p.numel() for p in group.params)} weights"
            lines.append(f"\n    group {index}: tune={group.tune}, now {values}; {size}")
        return f"HyperSGD({settings};{''.join(lines)})"

    # ------------------------------------------------------------------ hyperparameter views
    def raw_tensors(self) -> list[torch.Tensor]:
        """The optimised raw tensors, group by group, each group's in a fixed order (lr, weight_decay, momentum)."""
        return [t for group in self.hyper_groups for t in group.raw_tensors()]

    @property
    def tune(self) -> tuple[str, ...]:
        """The names tuned in at least one param group (all of them: see ``hyper_groups[i].tune``)."""
        return ordered({name for group in self.hyper_groups for name in group.tune})

    @property
    def raw(self) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """The first param group's raw tensors (with one group, all of them)."""
        return self.hyper_groups[0].raw

    @property
    def fixed(self) -> dict[str, Any]:
        """The first param group's fixed values (with one group, all of them)."""
        return self.hyper_groups[0].fixed

    @property
    def hyper_optimiser(self) -> HyperparameterAdam | None:
        """The first param group's Adam (with one group, the only one; None when it tunes nothing)."""
        return self.hyper_groups[0].adam

    @property
    def hyperparameters(self) -> dict[str, float]:
        """Current natural values; a per-parameter lr is reported as its mean.

        With several param groups there is no single answer: read :attr:`group_hyperparameters`.
        """
        if len(self.hyper_groups) > 1:
            raise RuntimeError(
                f"this HyperSGD has {len(self.hyper_groups)} param groups, each with its own hyperparameters: "
                "read opt.group_hyperparameters[i] (or opt.param_groups[i])"
            )
        return self.hyper_groups[0].values()

    @property
    def group_hyperparameters(self) -> list[dict[str, float]]:
        """Current natural values of each param group, in the order of ``param_groups``."""
        return [group.values() for group in self.hyper_groups]

    def lr_quantiles(self, qs: Sequence[float] = (0.05, 0.5, 0.95)) -> list[float] | None:
        """Quantiles of a per-parameter lr over all groups that have one (None for scalar lrs)."""
        lrs = [group.natural["lr"] for group in self.hyper_groups]
        values = [v for lr in lrs if isinstance(lr, list) for v in lr]
        if not values:
            return None
        flat = torch.cat([v.reshape(-1) for v in values]).float()
        if flat.numel() > 1_000_000:  # torch.quantile's input limit; a strided sample is plenty
            flat = flat[:: flat.numel() // 1_000_000 + 1]
        return torch.quantile(flat, torch.tensor(qs, dtype=flat.dtype, device=flat.device)).tolist()

    def _selected(self, group: int | None) -> list[HyperGroup]:
        if group is None:
            return list(self.hyper_groups)
        if not (isinstance(group, int) and 0 <= group < len(self.hyper_groups)):
            last = len(self.hyper_groups) - 1
            raise ValueError(f"group must be an index into param_groups (0..{last}), got {group!r}")
        return [self.hyper_groups[group]]

    def set_hyperparameters(self, group: int | None = None, **values: float) -> None:
        """Set current values (natural units), tuned or fixed; tuning continues from them.

        ``group``: the index of the param group to change; None changes every group.
        """
        unknown = set(values) - set(HYPERPARAMETER_NAMES)
        if unknown:
            raise ValueError(f"set_hyperparameters: unknown {sorted(unknown)}; allowed: {HYPERPARAMETER_NAMES}")
        selected = self._selected(group)
        for target in selected:
            current = {**target.values(), **values}
            check_arguments(
                lr=current["lr"], weight_decay=current["weight_decay"], momentum=current["momentum"],
                update_interval=self.update_interval, lookback=self.lookback, hyper_lr=self.hyper_lr,
                lr_clip=None, grad_clip_norm=self.grad_clip_norm, baydin_lr=self.baydin_lr,
            )  # fmt: skip
        for target in selected:
            target.set_values(values)
            target.clip_lr(self.lr_clip)
            target.refresh()
        self._publish_values()

    def freeze(self, *names: str, group: int | None = None) -> None:
        """Stop tuning ``names`` (all tuned ones by default): they keep their current values.

        ``group``: the index of the param group to freeze them in; None freezes them in every group.

        Freezing everything turns the remaining steps into plain SGD steps that need no closures
        (say, for the last epochs of a run).
        """
        check_tune(names)
        for target in self._selected(group):
            target.freeze(names or target.tune)
        if not any(target.tune for target in self.hyper_groups):
            self.method, self._method = None, METHODS[None]()
        self._publish_values()

    def multiply_lr(self, factor: float, bounds: tuple[float, float] = (1e-10, 1.0)) -> None:
        """Scale a fixed learning rate (the Random (xLR) baseline's schedule), clipped to bounds."""
        if "lr" in self.tune:
            raise RuntimeError("multiply_lr is for a fixed learning rate; this optimiser tunes lr")
        for target in self.hyper_groups:
            target.fixed["lr"] = min(max(target.fixed["lr"] * factor, bounds[0]), bounds[1])
            target.refresh()
        self._publish_values()

    @property
    def needs_closures(self) -> bool:
        """Whether the next step must be given ``train_loss`` (and, if it ends a window, ``val_loss``).

        When False, ``loss.backward(); opt.step()`` takes the step from the gradients in ``p.grad``.
        """
        return self.step_in_window >= self._method.first_differentiated(self.update_interval, self.lookback)

    # ------------------------------------------------------------------ stepping
    def step(  # type: ignore[override]
        self,
        train_loss: LossClosure | None = None,
        val_loss: LossClosure | None = None,
        closure: Callable[[], torch.Tensor] | None = None,
    ) -> StepResult:
        """One weight update; at the end of a window also one hyperparameter update.

        ``train_loss``/``val_loss`` map the model to a loss on a batch they hold. ``val_loss`` is
        needed on the last step of each window (and every step for Baydin): it is evaluated at the
        *updated* weights. Without ``train_loss``, on steps where :attr:`needs_closures` is False,
        the step uses the gradients in ``p.grad`` (after ``loss.backward()``, or ``closure()``).
        With ``train_loss``, a ``closure`` is only called (for its hooks) and must return None.
        """
        self._check_model()
        k = self.step_in_window
        if train_loss is None:
            if val_loss is not None:
                raise ValueError("val_loss without train_loss: pass both closures")
            if self.needs_closures:
                raise ValueError(
                    f"step {k + 1} of this {self.update_interval}-step window is differentiated: pass "
                    "train_loss and val_loss closures (opt.needs_closures says when), not p.grad"
                )
            out = self._gradient_step(closure)
        else:
            if closure is not None:
                self._call_hook_closure(closure)
            if val_loss is None and k == self.update_interval - 1 and self.needs_closures:
                raise ValueError("this step ends a hyperparameter window: pass val_loss")
            out = self._method.step(self._step_state(), k, train_loss, val_loss)
        self.buffers = out.buffers
        result = self._apply_hypergradient(out)
        self.step_in_window += 1
        if self.step_in_window == self.update_interval:
            self.step_in_window = 0
            self.hyperparameter_steps += 1
        return result

    @staticmethod
    def _call_hook_closure(closure: Callable[[], Any]) -> None:
        """A closure next to ``train_loss`` may only run hooks (Lightning's manual optimisation passes one).

        One that returns a loss is a mistake: the step would use ``train_loss`` and ignore it.
        """
        with torch.enable_grad():
            if closure() is not None:
                raise ValueError(
                    "pass train_loss (a model -> loss closure) or a closure that computes the loss, not both "
                    "(a closure returning None, such as the one PyTorch Lightning passes, is only called)"
                )

    def _gradient_step(self, closure: Callable[[], torch.Tensor] | None) -> KernelOutput:
        """A plain step from ``p.grad`` (torch.optim's convention), after an optional closure call."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if all(p.grad is None for p in self.params):
            raise ValueError("no gradients to step with: call loss.backward() first, or pass train_loss/val_loss")
        grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in self.params]
        natural = [group.natural for group in self.hyper_groups]
        buffers = grouped_sgd_update_(self.params, self._clip(grads), self.buffers, self._group_slices, natural)
        return KernelOutput(loss, buffers)  # type: ignore[arg-type]

    def _step_state(self) -> StepState:
        return StepState(
            model=self.model,
            params=self.params,
            buffers=self.buffers,
            groups=list(self._group_slices),
            natural=[group.natural for group in self.hyper_groups],
            natural_graph=lambda: [group.natural_graph() for group in self.hyper_groups],
            raw=self.raw_tensors(),
            tune=[group.tune for group in self.hyper_groups],
            update_interval=self.update_interval,
            lookback=self.lookback,
            clip=self._clip,
            evaluate=self._functional,
        )

    def _apply_hypergradient(self, out: KernelOutput) -> StepResult:
        """Adam (or Baydin's SGD) step on the raw hyperparameters, unless something was not finite."""
        loss = None if out.loss is None else out.loss.detach()
        if out.hypergradient is None:
            return StepResult(loss, hyperparameter_step=False)
        grads = [g.to(r.dtype) for g, r in zip(out.hypergradient, self.raw_tensors())]  # half -> float32
        by_name = self._by_name(grads)
        checked = [g.detach() for g in grads] + [t.detach() for t in (out.loss, out.validation_loss) if t is not None]
        finite = bool(torch.stack([torch.isfinite(t).all() for t in checked]).all())
        if not finite and self.skip_nonfinite:
            return StepResult(loss, hyperparameter_step=False, hypergradient=by_name, diverged=True)
        start = 0
        for group in self.hyper_groups:
            tensors = group.raw_tensors()
            chunk, start = grads[start : start + len(tensors)], start + len(tensors)
            if group.adam is not None:
                group.adam.step(chunk)
            else:
                with torch.no_grad():
                    for raw, g in zip(tensors, chunk):
                        raw -= self.baydin_lr * g
            group.clip_lr(self.lr_clip)
            group.refresh()
        self._publish_values()
        return StepResult(loss, hyperparameter_step=True, hypergradient=by_name, diverged=not finite)

    # ---------------------------------------------------------------------- internals
    def _check_model(self) -> None:
        """Refuse parameters that changed under the optimiser; follow a moved or cast model."""
        current = {id(p) for p in self.model.parameters() if p.requires_grad}
        if current != self._ids:
            by_id = {id(p): n for n, p in self.model.named_parameters()}
            new = sorted(by_id.get(i, "?") for i in current - self._ids)
            gone = [n for n, p in zip(self.names, self.params) if id(p) not in current]
            raise RuntimeError(
                "the model's trainable parameters changed after HyperSGD was built "
                f"(new or replaced: {new}; replaced, removed or frozen: {gone}). Parameters replaced by "
                "load_state_dict(assign=True) or a new module are not the ones HyperSGD updates: build a "
                "new HyperSGD, or train added ones with opt.add_param_group({'params': ...})"
            )
        for index, (group, written) in enumerate(zip(self.param_groups, self._written)):
            edited = {k: group[k] for k, v in written.items() if group[k] != v}
            if edited:
                self.set_hyperparameters(group=index, **edited)
        first = self.params[0]
        if first.dtype != self._dtype or first.device != self._device:
            self._follow_parameters()

    def _follow_parameters(self) -> None:
        """The model was moved or cast (``.to``, ``.double()``): move and cast the state with it."""
        first = self.params[0]
        for group in self.hyper_groups:
            group.follow()
        if self.buffers is not None:
            self.buffers = cast_like(self.buffers, self.params)
        self._dtype, self._device = first.dtype, first.device
        self._publish_values()

    def _publish_values(self) -> None:
        """Show each group's current values in ``param_groups`` (what loggers and LR schedulers read).

        An edit there (an LR scheduler's) is applied at the next step, by :meth:`_check_model`.
        """
        self._written = []
        for group, hyper in zip(self.param_groups, self.hyper_groups):
            values = hyper.values()
            written = {k: (v if not isinstance(v, list) else values[k]) for k, v in hyper.natural.items()}
            group.update(written)
            group["tune"] = hyper.tune
            self._written.append(written)

    def _functional(self, closure: LossClosure, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        """The closure's loss with ``weights`` in place of the parameters (graph on ``weights``)."""
        with twice_differentiable(), self._slots.holding(weights):
            loss = checked_loss(closure, self.model, "the loss closure")
        check_through_model(loss, self.params, "the loss closure")
        return loss

    def _clip(self, grads: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The training gradient, norm-clipped (differentiably) when ``grad_clip_norm`` is set."""
        return clip_grad_norm(grads, self.grad_clip_norm) if self.grad_clip_norm is not None else list(grads)

    def _by_name(self, flat: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-tensor hypergradients by hyperparameter (a per-parameter lr's as one flat vector).

        Keys are the names (``"lr"``) for the first param group and ``"lr/1"``, ``"lr/2"``... for the others.
        """
        out: dict[str, torch.Tensor] = {}
        index = 0
        for number, group in enumerate(self.hyper_groups):
            suffix = f"/{number}" if number else ""
            for name in group.tune:
                value = group.raw[name]
                count = len(value) if isinstance(value, list) else 1
                chunk = flat[index : index + count]
                out[name + suffix] = (
                    chunk[0].detach()
                    if count == 1 and not isinstance(value, list)
                    else torch.cat([c.reshape(-1) for c in chunk]).detach()
                )
                index += count
        return out

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        """The hyperparameters, their Adam state, the momentum buffers and the window position.

        Plain tensors, numbers and strings. Loading it continues bit-identically, except inside the
        unrolled segment of ``method="exact"``, whose graph cannot be saved (see ``ExactMethod``).
        """
        first, *others = [group.state_dict() for group in self.hyper_groups]
        state = {
            "format": FORMAT,
            "method": self.method,
            "raw": first["raw"],
            "fixed": first["fixed"],
            "buffers": None if self.buffers is None else [b.clone() for b in self.buffers],
            "step_in_window": self.step_in_window,
            "hyperparameter_steps": self.hyperparameter_steps,
            "hyper_optimiser": first["hyper_optimiser"],
        }
        if others:  # the other param groups' raw, fixed and hyper_optimiser entries
            state["groups"] = others
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:  # type: ignore[override]
        """Restore :meth:`state_dict` output (weights are restored separately, by the model).

        Everything is checked before anything changes; tensors are cast to the dtype and device of
        this optimiser's (hyperparameters float32 for half-precision models).
        """
        validate(
            state,
            method=self.method,
            groups=[(group.raw, list(group.fixed), group.adam_shapes()) for group in self.hyper_groups],
            params=self.params,
            update_interval=self.update_interval,
        )
        for group, part in zip(self.hyper_groups, [state, *state.get("groups", [])]):
            group.load_state_dict(part)
        self.buffers = None if state["buffers"] is None else cast_like(state["buffers"], self.params)
        self.step_in_window = int(state["step_in_window"])
        self.hyperparameter_steps = int(state["hyperparameter_steps"])
        self._method.reset()
        self._publish_values()

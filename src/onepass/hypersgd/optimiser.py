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
from .hypergradients import clip_grad_norm
from .methods import METHODS, KernelOutput, StepResult, StepState
from .slots import _ParameterSlots
from .state import FORMAT, cast_like, validate
from .transforms import HYPERPARAMETER_NAMES, from_raw, to_raw
from .updates import sgd_update_

__all__ = ["METHODS", "HyperSGD", "LossClosure", "StepResult"]


def _hyper_dtype(dtype: torch.dtype) -> torch.dtype:
    """Hyperparameters and their Adam state stay float32 for half-precision models."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


class HyperSGD(torch.optim.Optimizer):
    """SGD (PyTorch's momentum/weight-decay form) with online hyperparameter optimisation.

    Args:
        model: the module whose trainable parameters are optimised (the module, not its parameters:
            HyperSGD evaluates your loss at other weights through it).
        lr, weight_decay, momentum: initial values in natural units.
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
        if per_parameter_lr and "lr" not in tune:
            raise ValueError("per_parameter_lr=True needs 'lr' in tune")
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
        self.tune = tuple(name for name in HYPERPARAMETER_NAMES if name in tune)
        self.per_parameter_lr = per_parameter_lr
        self.update_interval = update_interval
        self.lookback = lookback
        self.hyper_lr = hyper_lr
        self.lr_clip = tuple(lr_clip) if lr_clip is not None else None
        self.grad_clip_norm = grad_clip_norm
        self.baydin_lr = baydin_lr
        self.skip_nonfinite = skip_nonfinite
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError("the model has no trainable parameters")
        if len({p.device for p in self.params}) > 1:
            raise ValueError("HyperSGD needs all trainable parameters on one device (hypergradients span all of them)")
        natural = {"lr": float(lr), "weight_decay": float(weight_decay), "momentum": float(momentum)}
        self._constructing = True
        super().__init__([{"params": self.params}], dict(natural))
        self._constructing = False
        self._index_parameters()
        self.fixed: dict[str, Any] = {k: v for k, v in natural.items() if k not in self.tune}
        self.raw = self._initial_raw(natural)
        self._method = METHODS[method]()
        self.hyper_optimiser = HyperparameterAdam(self.raw_tensors(), lr=hyper_lr) if self._method.uses_adam else None
        self.buffers: list[torch.Tensor] | None = None
        self.step_in_window = 0
        self.hyperparameter_steps = 0
        self._refresh_natural()

    def _index_parameters(self) -> None:
        """Record which tensors are trained, where they sit in the model, and their dtype/device."""
        self._slots = _ParameterSlots(self.model, self.params)
        self._ids = {id(p) for p in self.params}
        self._dtype, self._device = self.params[0].dtype, self.params[0].device

    def _initial_raw(self, natural: dict[str, float]) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Leaf tensors of the tuned hyperparameters in raw space (one per weight tensor for HDLR)."""
        reference = self.params[0]
        dtype = _hyper_dtype(reference.dtype)
        raw: dict[str, torch.Tensor | list[torch.Tensor]] = {}
        for name in self.tune:
            value = to_raw(name, natural[name])
            if name == "lr" and self.per_parameter_lr:
                raw[name] = [torch.full_like(p, value, dtype=dtype, requires_grad=True) for p in self.params]
            else:
                raw[name] = torch.tensor(value, dtype=dtype, device=reference.device, requires_grad=True)
        return raw

    # ------------------------------------------------------------------ torch.optim contract
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Train more of the model's parameters (say, a new head or an unfrozen layer) from now on.

        Their momentum starts at zero (the same update as ``torch.optim.SGD``'s first step for them).
        Per-group hyperparameters are not supported: every group shares the tuned values.
        """
        if self._constructing:
            super().add_param_group(param_group)
            return
        extra = set(param_group) - {"params"} - set(self.defaults)
        if extra or any(param_group[k] != self.param_groups[0][k] for k in self.defaults if k in param_group):
            raise ValueError("HyperSGD tunes one lr, weight decay and momentum for all groups: pass only 'params'")
        if self.per_parameter_lr:
            raise ValueError("add_param_group with per_parameter_lr=True: build a new HyperSGD for the new parameters")
        params = param_group["params"]
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        model_ids = {id(p) for p in self.model.parameters()}
        if any(id(p) not in model_ids for p in params):
            raise ValueError("add_param_group: HyperSGD trains only parameters of its model (add the module first)")
        super().add_param_group({"params": params})
        self.params.extend(params)
        by_id = {id(p): n for n, p in self.model.named_parameters()}
        self.names.extend(by_id[id(p)] for p in params)
        if self.buffers is not None:
            self.buffers = [*self.buffers, *(torch.zeros_like(p) for p in params)]
        self._index_parameters()

    def __repr__(self) -> str:
        settings = (
            f"method={self.method!r}, tune={self.tune}, per_parameter_lr={self.per_parameter_lr}, "
            f"update_interval={self.update_interval}, lookback={self.lookback}, hyper_lr={self.hyper_lr}, "
            f"lr_clip={self.lr_clip}, grad_clip_norm={self.grad_clip_norm}"
        )
        values = ", ".join(f"{k}={v:.4g}" for k, v in self.hyperparameters.items())
        size = f"{len(self.params)} tensors, {sum(p.numel() for p in self.params)} weights"
        return f"HyperSGD({settings};\n    now {values}; {size})"

    # ------------------------------------------------------------------ hyperparameter views
    def raw_tensors(self) -> list[torch.Tensor]:
        """The optimised raw tensors, flattened in a fixed order (lr, weight_decay, momentum)."""
        out: list[torch.Tensor] = []
        for name in self.tune:
            value = self.raw[name]
            out.extend(value if isinstance(value, list) else [value])
        return out

    @property
    def hyperparameters(self) -> dict[str, float]:
        """Current natural values; a per-parameter lr is reported as its mean."""
        out = {}
        for name in HYPERPARAMETER_NAMES:
            value = self._natural[name]
            if isinstance(value, list):
                flat = torch.cat([v.reshape(-1) for v in value])
                out[name] = float(flat.mean())
            else:
                out[name] = float(value)
        return out

    def lr_quantiles(self, qs: Sequence[float] = (0.05, 0.5, 0.95)) -> list[float] | None:
        """Quantiles of a per-parameter lr (None for a scalar lr)."""
        value = self._natural["lr"]
        if not isinstance(value, list):
            return None
        flat = torch.cat([v.reshape(-1) for v in value]).float()
        if flat.numel() > 1_000_000:  # torch.quantile's input limit; a strided sample is plenty
            flat = flat[:: flat.numel() // 1_000_000 + 1]
        return torch.quantile(flat, torch.tensor(qs, dtype=flat.dtype, device=flat.device)).tolist()

    def set_hyperparameters(self, **values: float) -> None:
        """Set current values (natural units), tuned or fixed; tuning continues from them."""
        unknown = set(values) - set(HYPERPARAMETER_NAMES)
        if unknown:
            raise ValueError(f"set_hyperparameters: unknown {sorted(unknown)}; allowed: {HYPERPARAMETER_NAMES}")
        current = {**self.hyperparameters, **values}
        check_arguments(
            lr=current["lr"], weight_decay=current["weight_decay"], momentum=current["momentum"],
            update_interval=self.update_interval, lookback=self.lookback, hyper_lr=self.hyper_lr,
            lr_clip=None, grad_clip_norm=self.grad_clip_norm, baydin_lr=self.baydin_lr,
        )  # fmt: skip
        with torch.no_grad():
            for name, value in values.items():
                if name in self.raw:
                    target = self.raw[name]
                    for t in target if isinstance(target, list) else [target]:
                        t.fill_(to_raw(name, float(value)))
                else:
                    self.fixed[name] = float(value)
            self._clip_raw()
        self._refresh_natural()

    def freeze(self, *names: str) -> None:
        """Stop tuning ``names`` (all tuned ones by default): they keep their current values.

        Freezing everything turns the remaining steps into plain SGD steps that need no closures
        (say, for the last epochs of a run).
        """
        names = names or self.tune
        check_tune(names)
        keep = tuple(n for n in self.tune if n not in names)
        for name in self.tune:
            if name not in keep:
                value = self._natural[name]
                self.fixed[name] = [v.detach().clone() for v in value] if isinstance(value, list) else value
        kept_tensors = [n for n in self.tune for _ in (self.raw[n] if isinstance(self.raw[n], list) else [0])]
        self.raw = {n: self.raw[n] for n in keep}
        if self.hyper_optimiser is not None:
            adam, index = self.hyper_optimiser, [i for i, n in enumerate(kept_tensors) if n in keep]
            adam.tensors = [adam.tensors[i] for i in index]
            adam.exp_avg = [adam.exp_avg[i] for i in index]
            adam.exp_avg_sq = [adam.exp_avg_sq[i] for i in index]
        self.tune = keep
        if not keep:
            self.method, self._method, self.hyper_optimiser = None, METHODS[None](), None
        self._refresh_natural()

    def multiply_lr(self, factor: float, bounds: tuple[float, float] = (1e-10, 1.0)) -> None:
        """Scale a fixed learning rate (the Random (xLR) baseline's schedule), clipped to bounds."""
        if "lr" in self.tune:
            raise RuntimeError("multiply_lr is for a fixed learning rate; this optimiser tunes lr")
        self.fixed["lr"] = min(max(self.fixed["lr"] * factor, bounds[0]), bounds[1])
        self._refresh_natural()

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
                raise ValueError("pass train_loss (a model -> loss closure) or closure, not both")
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

    def _gradient_step(self, closure: Callable[[], torch.Tensor] | None) -> KernelOutput:
        """A plain step from ``p.grad`` (torch.optim's convention), after an optional closure call."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if all(p.grad is None for p in self.params):
            raise ValueError("no gradients to step with: call loss.backward() first, or pass train_loss/val_loss")
        grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in self.params]
        buffers = sgd_update_(self.params, self._clip(grads), self.buffers, self._natural)
        return KernelOutput(loss, buffers)  # type: ignore[arg-type]

    def _step_state(self) -> StepState:
        return StepState(
            model=self.model,
            params=self.params,
            buffers=self.buffers,
            natural=self._natural,
            natural_graph=self._natural_graph,
            raw=self.raw_tensors(),
            tune=self.tune,
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
        if self.hyper_optimiser is not None:
            self.hyper_optimiser.step(grads)
        else:
            with torch.no_grad():
                for raw, g in zip(self.raw_tensors(), grads):
                    raw -= self.baydin_lr * g
        with torch.no_grad():
            self._clip_raw()
        self._refresh_natural()
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
        edited = {k: g[k] for g in self.param_groups for k, v in self._written.items() if g[k] != v}
        if edited:
            self.set_hyperparameters(**edited)
        first = self.params[0]
        if first.dtype != self._dtype or first.device != self._device:
            self._follow_parameters()

    def _follow_parameters(self) -> None:
        """The model was moved or cast (``.to``, ``.double()``): move and cast the state with it."""
        first = self.params[0]
        hyper = {"dtype": _hyper_dtype(first.dtype), "device": first.device}
        with torch.no_grad():
            for t in self.raw_tensors():
                t.data = t.data.to(**hyper)
            if self.buffers is not None:
                self.buffers = cast_like(self.buffers, self.params)
            if self.hyper_optimiser is not None:
                adam = self.hyper_optimiser
                adam.exp_avg = [t.to(**hyper) for t in adam.exp_avg]
                adam.exp_avg_sq = [t.to(**hyper) for t in adam.exp_avg_sq]
            for name, value in self.fixed.items():
                if isinstance(value, list):
                    self.fixed[name] = cast_like(value, self.params)
        self._dtype, self._device = first.dtype, first.device
        self._refresh_natural()

    def _refresh_natural(self) -> None:
        """Cache natural values for the fast path; they only change at hyperparameter steps."""
        with torch.no_grad():
            cache: dict[str, Any] = dict(self.fixed)
            for name in self.tune:
                value = self.raw[name]
                if isinstance(value, list):
                    cache[name] = [from_raw(name, v).to(p.dtype) for v, p in zip(value, self.params)]
                else:
                    cache[name] = float(from_raw(name, value))
        self._natural = cache
        # What tools that read param_groups (loggers) see; an edit there (an LR scheduler) is applied.
        self._written = {k: (v if not isinstance(v, list) else self.hyperparameters[k]) for k, v in cache.items()}
        for group in self.param_groups:
            group.update(self._written)

    def _natural_graph(self) -> dict[str, Any]:
        """Natural values as functions of the raw tensors, for differentiated steps."""
        out: dict[str, Any] = dict(self.fixed)
        for name in self.tune:
            value = self.raw[name]
            out[name] = [from_raw(name, v) for v in value] if isinstance(value, list) else from_raw(name, value)
        return out

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
        """Per-tensor hypergradients grouped by hyperparameter (a per-parameter lr's as one flat vector)."""
        out: dict[str, torch.Tensor] = {}
        index = 0
        for name in self.tune:
            value = self.raw[name]
            count = len(value) if isinstance(value, list) else 1
            chunk = flat[index : index + count]
            out[name] = (
                chunk[0].detach()
                if count == 1 and not isinstance(value, list)
                else torch.cat([c.reshape(-1) for c in chunk]).detach()
            )
            index += count
        return out

    def _clip_raw(self) -> None:
        """Clamp log10 lr to ``lr_clip`` (in place; call under ``torch.no_grad``)."""
        if self.lr_clip is None or "lr" not in self.raw:
            return
        value = self.raw["lr"]
        for tensor in value if isinstance(value, list) else [value]:
            tensor.clamp_(self.lr_clip[0], self.lr_clip[1])

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        """The hyperparameters, their Adam state, the momentum buffers and the window position.

        Plain tensors, numbers and strings. Loading it continues bit-identically, except inside the
        unrolled segment of ``method="exact"``, whose graph cannot be saved (see ``ExactMethod``).
        """
        return {
            "format": FORMAT,
            "method": self.method,
            "raw": {
                k: ([t.detach().clone() for t in v] if isinstance(v, list) else v.detach().clone())
                for k, v in self.raw.items()
            },
            "fixed": {k: ([t.clone() for t in v] if isinstance(v, list) else v) for k, v in self.fixed.items()},
            "buffers": None if self.buffers is None else [b.clone() for b in self.buffers],
            "step_in_window": self.step_in_window,
            "hyperparameter_steps": self.hyperparameter_steps,
            "hyper_optimiser": None if self.hyper_optimiser is None else self.hyper_optimiser.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:  # type: ignore[override]
        """Restore :meth:`state_dict` output (weights are restored separately, by the model).

        Everything is checked before anything changes; tensors are cast to the dtype and device of
        this optimiser's (hyperparameters float32 for half-precision models).
        """
        adam = self.hyper_optimiser
        validate(
            state,
            method=self.method,
            raw=self.raw,
            fixed_names=list(self.fixed),
            params=self.params,
            update_interval=self.update_interval,
            adam_shapes=None if adam is None else [tuple(t.shape) for t in adam.exp_avg],
        )
        with torch.no_grad():
            for name, value in state["raw"].items():
                target = self.raw[name]
                for t, v in zip(*((target, value) if isinstance(target, list) else ([target], [value]))):
                    t.copy_(v)
        self.fixed = {
            k: (cast_like(v, self.params) if isinstance(v, list) else float(v)) for k, v in state["fixed"].items()
        }
        self.buffers = None if state["buffers"] is None else cast_like(state["buffers"], self.params)
        self.step_in_window = int(state["step_in_window"])
        self.hyperparameter_steps = int(state["hyperparameter_steps"])
        if adam is not None and state["hyper_optimiser"] is not None:
            adam.load_state_dict(state["hyper_optimiser"])
        self._method.reset()
        self._refresh_natural()

"""`HyperSGD`: SGD whose learning rate, weight decay and momentum tune themselves while it trains.

This is the engine behind every algorithm of the paper and the public API for users' own models.
It owns the weight update, so it knows which steps to differentiate:

* ``method="neumann"`` (the paper's method, and Lorraine et al. when only weight decay is tuned):
  the last update of every window of ``update_interval`` steps is recorded with a graph; the
  hypergradient follows from the implicit function theorem with a ``lookback``-term Neumann series.
* ``method="exact"`` (Diff-through-Opt): the last ``lookback`` updates of each window are unrolled
  with a graph and the validation loss is backpropagated through them exactly.
* ``method="baydin"``: hypergradient descent on log10 lr after every step.
* ``method=None``: plain SGD with fixed hyperparameters (the Random baselines).

All other steps take a fast path (no graph, ``torch._foreach`` updates), which is why the one-pass
methods cost little more than plain training. Steps are given *closures* ``loss(model) -> Tensor``:
on tracked steps the closure is evaluated with copies of the weights swapped into the module's
parameter slots (as ``torch.func.functional_call`` does), so any ``nn.Module`` works unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .adam import HyperparameterAdam
from .hypergradients import (
    baydin_hypergradient,
    clip_grad_norm,
    flatten,
    neumann_series,
    scale_by_lr,
    sgd_direction,
    sgd_update_vjp,
)
from .transforms import HYPERPARAMETER_NAMES, from_raw, natural_per_raw, to_raw

LossClosure = Callable[[nn.Module], torch.Tensor]
METHODS = (None, "neumann", "exact", "baydin")


class _ParameterSlots:
    """Puts other tensors in a model's parameter slots for one call, then restores the originals.

    This is what ``torch.func.functional_call`` does, minus its per-call generality (name parsing,
    buffer handling, tie detection), which costs more than a whole forward pass of a small MLP.
    Tied weights are handled: every slot that holds a parameter is swapped together.
    """

    def __init__(self, model: nn.Module, params: Sequence[torch.Tensor]) -> None:
        index = {id(p): i for i, p in enumerate(params)}
        self.slots: list[tuple[dict[str, Any], str, int]] = []
        for module in model.modules():
            for attr, value in module._parameters.items():
                if value is not None and id(value) in index:
                    self.slots.append((module._parameters, attr, index[id(value)]))

    @contextmanager
    def holding(self, weights: Sequence[torch.Tensor]) -> Iterator[None]:
        originals = [table[attr] for table, attr, _ in self.slots]
        try:
            for table, attr, i in self.slots:
                table[attr] = weights[i]
            yield
        finally:
            for (table, attr, _), original in zip(self.slots, originals):
                table[attr] = original


def _weight_grad(loss: torch.Tensor, weights: Sequence[torch.Tensor], create_graph: bool = False) -> list[torch.Tensor]:
    """dloss/dweights, with zeros for weights the loss does not use (say, an idle head of the model).

    Those weights still decay with weight decay and carry momentum, as if their gradient were zero
    (``torch.optim.SGD`` would skip them instead); they add nothing to any hypergradient.
    """
    grads = torch.autograd.grad(loss, weights, create_graph=create_graph, allow_unused=True, materialize_grads=True)
    return list(grads)


@dataclass
class StepResult:
    """What one call of :meth:`HyperSGD.step` did."""

    loss: torch.Tensor  # training loss before the update (detached)
    hyperparameter_step: bool  # True when the hyperparameters changed after this step
    hypergradient: dict[str, torch.Tensor] | None = None  # raw-space hypergradient, if computed


class HyperSGD:
    """SGD (PyTorch's momentum/weight-decay form) with online hyperparameter optimisation.

    Args:
        model: the module whose trainable parameters are optimised.
        lr, weight_decay, momentum: initial values in natural units.
        tune: which of ``"lr"``, ``"weight_decay"``, ``"momentum"`` to optimise.
        method: ``"neumann"`` (default), ``"exact"``, ``"baydin"`` or ``None``.
        per_parameter_lr: one learning rate per weight element (the paper's HDLR variant).
        update_interval: weight steps per hyperparameter step (T).
        lookback: Neumann terms (neumann) or unrolled steps (exact) (i).
        hyper_lr: learning rate of the Adam hyperparameter optimiser (on raw values).
        lr_clip: (low, high) bounds of log10 lr after each hyperparameter step, or None.
        grad_clip_norm: clip the training gradient's norm (differentiably), or None.
        baydin_lr: SGD step size on log10 lr for ``method="baydin"``.
    """

    def __init__(
        self,
        model: nn.Module,
        lr: float,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        *,
        tune: Sequence[str] = ("lr", "weight_decay", "momentum"),
        method: str | None = "neumann",
        per_parameter_lr: bool = False,
        update_interval: int = 10,
        lookback: int = 5,
        hyper_lr: float = 0.05,
        lr_clip: tuple[float, float] | None = (-10.0, 0.0),
        grad_clip_norm: float | None = None,
        baydin_lr: float = 1e-3,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        unknown = set(tune) - set(HYPERPARAMETER_NAMES)
        if unknown:
            raise ValueError(f"tune: unknown hyperparameters {sorted(unknown)}; allowed: {HYPERPARAMETER_NAMES}")
        if method is None:
            tune = ()
        if method == "baydin":
            if set(tune) != {"lr"}:
                raise ValueError("method='baydin' tunes exactly the learning rate: use tune=('lr',)")
            update_interval = 1
        if update_interval < 1 or lookback < 1:
            raise ValueError("update_interval and lookback must be >= 1")
        if per_parameter_lr and "lr" not in tune:
            raise ValueError("per_parameter_lr=True needs 'lr' in tune")
        self.model = model
        self.method = method
        self.tune = tuple(name for name in HYPERPARAMETER_NAMES if name in tune)
        self.per_parameter_lr = per_parameter_lr
        self.update_interval = update_interval
        self.lookback = lookback
        self.lr_clip = tuple(lr_clip) if lr_clip is not None else None
        self.grad_clip_norm = grad_clip_norm
        self.baydin_lr = baydin_lr
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError("the model has no trainable parameters")
        if len({p.device for p in self.params}) > 1:
            raise ValueError("HyperSGD needs all trainable parameters on one device (hypergradients span all of them)")
        reference = self.params[0]
        self._slots = _ParameterSlots(model, self.params)
        self._numels = [p.numel() for p in self.params]

        natural = {"lr": float(lr), "weight_decay": float(weight_decay), "momentum": float(momentum)}
        self.fixed: dict[str, float] = {k: v for k, v in natural.items() if k not in self.tune}
        self.raw: dict[str, torch.Tensor | list[torch.Tensor]] = {}
        for name in self.tune:
            value = to_raw(name, natural[name])
            if name == "lr" and per_parameter_lr:
                self.raw[name] = [torch.full_like(p, value, requires_grad=True) for p in self.params]
            else:
                self.raw[name] = torch.tensor(value, dtype=reference.dtype, device=reference.device, requires_grad=True)
        self.hyper_optimiser = (
            HyperparameterAdam(self.raw_tensors(), lr=hyper_lr) if method in ("neumann", "exact") else None
        )
        self.buffers: list[torch.Tensor] | None = None
        self.step_in_window = 0
        self.hyperparameter_steps = 0
        self._segment: dict[str, Any] | None = None
        self._refresh_natural()

    # ------------------------------------------------------------------ hyperparameter views
    def raw_tensors(self) -> list[torch.Tensor]:
        """The optimised raw tensors, flattened in a fixed order (lr, weight_decay, momentum)."""
        out: list[torch.Tensor] = []
        for name in self.tune:
            value = self.raw[name]
            out.extend(value if isinstance(value, list) else [value])
        return out

    def _refresh_natural(self) -> None:
        """Cache natural values for the fast path; they only change at hyperparameter steps."""
        with torch.no_grad():
            cache: dict[str, Any] = dict(self.fixed)
            for name in self.tune:
                value = self.raw[name]
                if isinstance(value, list):
                    cache[name] = [from_raw(name, v) for v in value]
                else:
                    cache[name] = float(from_raw(name, value))
        self._natural = cache

    def _natural_graph(self) -> dict[str, Any]:
        """Natural values as functions of the raw tensors, for differentiated steps."""
        out: dict[str, Any] = dict(self.fixed)
        for name in self.tune:
            value = self.raw[name]
            out[name] = [from_raw(name, v) for v in value] if isinstance(value, list) else from_raw(name, value)
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

    def multiply_lr(self, factor: float, bounds: tuple[float, float] = (1e-10, 1.0)) -> None:
        """Scale a fixed learning rate (the Random (xLR) baseline's schedule), clipped to bounds."""
        if "lr" in self.tune:
            raise RuntimeError("multiply_lr is for a fixed learning rate; this optimiser tunes lr")
        self.fixed["lr"] = min(max(self.fixed["lr"] * factor, bounds[0]), bounds[1])
        self._refresh_natural()

    # ------------------------------------------------------------------ stepping
    def _functional(self, closure: LossClosure, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        """The closure's loss with ``weights`` in place of the parameters (graph on ``weights``)."""
        with self._slots.holding(weights):
            return closure(self.model)

    def _tracked(self, k: int) -> bool:
        if self.method == "neumann":
            return k == self.update_interval - 1
        if self.method == "exact":
            return k >= self.update_interval - min(self.lookback, self.update_interval)
        return False

    def step(self, train_loss: LossClosure, val_loss: LossClosure | None = None) -> StepResult:
        """One weight update; at the end of a window also one hyperparameter update.

        ``val_loss`` is needed on the last step of each window (and every step for Baydin): it is
        evaluated at the *updated* weights, on whatever batch the closure holds.
        """
        k = self.step_in_window
        last = k == self.update_interval - 1
        needs_val = self.method == "baydin" or (self.method in ("neumann", "exact") and last)
        if needs_val and val_loss is None:
            raise ValueError("this step ends a hyperparameter window: pass val_loss")
        if self.method == "neumann" and last:
            result = self._neumann_step(train_loss, val_loss)
        elif self.method == "exact" and self._tracked(k):
            result = self._exact_step(
                train_loss,
                val_loss,
                first=k == self.update_interval - min(self.lookback, self.update_interval),
                last=last,
            )
        elif self.method == "baydin":
            result = self._baydin_step(train_loss, val_loss)
        else:
            result = StepResult(self._plain_step(train_loss), hyperparameter_step=False)
        self.step_in_window += 1
        if self.step_in_window == self.update_interval:
            self.step_in_window = 0
            self.hyperparameter_steps += 1
        return result

    def _clip(self, grads: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return clip_grad_norm(grads, self.grad_clip_norm) if self.grad_clip_norm is not None else list(grads)

    def _plain_step(self, train_loss: LossClosure) -> torch.Tensor:
        loss = train_loss(self.model)
        grads = self._clip(_weight_grad(loss, self.params))
        self._apply_update(grads)
        return loss.detach()

    @torch.no_grad()
    def _apply_update(self, grads: Sequence[torch.Tensor]) -> None:
        nat = self._natural
        wd, mom, lr = nat["weight_decay"], nat["momentum"], nat["lr"]
        direction = torch._foreach_add(grads, self.params, alpha=wd) if wd != 0 else [g.clone() for g in grads]
        if self.buffers is None:
            self.buffers = direction
        else:
            torch._foreach_mul_(self.buffers, mom)
            torch._foreach_add_(self.buffers, direction)
        if isinstance(lr, list):
            torch._foreach_addcmul_(self.params, lr, self.buffers, value=-1.0)
        else:
            torch._foreach_add_(self.params, self.buffers, alpha=-lr)

    @torch.no_grad()
    def _write_weights(self, weights: Sequence[torch.Tensor], buffers: Sequence[torch.Tensor]) -> None:
        torch._foreach_copy_(self.params, [w.detach() for w in weights])
        self.buffers = [b.detach().clone() for b in buffers]

    def _neumann_step(self, train_loss: LossClosure, val_loss: LossClosure) -> StepResult:
        # The training loss is taken at a copy of the weights: its graph must keep the old values
        # while the parameters are updated in place.
        before = [p.detach().clone().requires_grad_() for p in self.params]
        loss = self._functional(train_loss, before)
        grads = self._clip(_weight_grad(loss, before, create_graph=True))
        previous_buffers = (
            [b.clone() for b in self.buffers] if self.buffers is not None and "momentum" in self.tune else None
        )
        self._apply_update([g.detach() for g in grads])  # no graph: du/dlambda is closed-form
        direction = self.buffers
        assert direction is not None
        validation = val_loss(self.model)
        v = _weight_grad(validation, self.params)
        nat = self._natural
        lr, wd = nat["lr"], nat["weight_decay"]
        # Outputs with no dependence on the weights (e.g. a constant gradient) add nothing to H p.
        linked = [i for i, g in enumerate(grads) if g.requires_grad]
        linked_grads = [grads[i] for i in linked]

        def hessian_product(p: list[torch.Tensor]) -> list[torch.Tensor]:
            """(dg/dw)^T p through the gradient's graph: a Hessian-vector product when g is unclipped."""
            hvp = torch.autograd.grad(
                linked_grads,
                before,
                grad_outputs=[p[i] for i in linked],
                retain_graph=True,
                allow_unused=True,
                materialize_grads=True,
            )
            return list(hvp)

        def next_term(p: list[torch.Tensor]) -> list[torch.Tensor]:
            # du/dw = diag(lr) (dg/dw + wd I), so p - (du/dw)^T p = p - (dg/dw)^T (lr p) - wd lr p.
            if isinstance(lr, list):
                scaled = torch._foreach_mul(p, lr)
                torch._foreach_sub_(p, hessian_product(scaled))
                if wd != 0:
                    torch._foreach_add_(p, scaled, alpha=-wd)
            else:  # scalar lr: (1 - lr wd) p - lr (dg/dw)^T p, without a scaled copy of p
                product = hessian_product(p)
                if wd != 0:
                    torch._foreach_mul_(p, 1.0 - lr * wd)
                torch._foreach_add_(p, product, alpha=-lr)
            return p

        series = neumann_series(v, next_term, self.lookback)
        weights = [w.detach() for w in before]
        flat_lr = flatten(lr) if isinstance(lr, list) else lr
        partials = sgd_update_vjp(series, self.tune, weights, previous_buffers, direction, flat_lr)
        grads_raw: list[torch.Tensor] = []
        for name in self.tune:
            value = flat_lr if name == "lr" else nat[name]
            flat_grad = -partials[name] * natural_per_raw(name, value)
            grads_raw.extend(self._unflatten(flat_grad) if isinstance(value, torch.Tensor) else [flat_grad])
        return self._finish_hyperparameter_step(loss, grads_raw)

    def _unflatten(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Views of a flat vector shaped like the parameters."""
        return [piece.view(p.shape) for piece, p in zip(flat.split(self._numels), self.params)]

    def _exact_step(self, train_loss: LossClosure, val_loss: LossClosure | None, first: bool, last: bool) -> StepResult:
        if first or self._segment is None:
            self._segment = {
                "weights": [p.detach().clone().requires_grad_() for p in self.params],
                "buffers": None if self.buffers is None else [b.detach() for b in self.buffers],
                "natural": self._natural_graph(),
            }
        seg = self._segment
        nat = seg["natural"]
        weights = seg["weights"]
        loss = self._functional(train_loss, weights)
        grads = self._clip(_weight_grad(loss, weights, create_graph=True))
        direction = sgd_direction(grads, weights, seg["buffers"], nat["weight_decay"], nat["momentum"])
        new_weights = [w - u for w, u in zip(weights, scale_by_lr(direction, nat["lr"]))]
        seg["weights"], seg["buffers"] = new_weights, direction
        self._write_weights([w.detach() for w in new_weights], direction)
        if not last:
            return StepResult(loss.detach(), hyperparameter_step=False)
        validation = self._functional(val_loss, new_weights)
        raw = self.raw_tensors()
        grads_raw = torch.autograd.grad(validation, raw, allow_unused=True)
        grads_raw = [torch.zeros_like(r) if g is None else g for g, r in zip(grads_raw, raw)]
        self._segment = None
        return self._finish_hyperparameter_step(loss, list(grads_raw))

    def _baydin_step(self, train_loss: LossClosure, val_loss: LossClosure) -> StepResult:
        loss = train_loss(self.model)
        previous = _weight_grad(loss, self.params)
        self._apply_update(self._clip(previous))
        validation = val_loss(self.model)
        new = _weight_grad(validation, self.params)
        signal = baydin_hypergradient(new, previous)
        raw = self.raw["lr"]
        assert isinstance(raw, torch.Tensor)
        with torch.no_grad():
            raw -= self.baydin_lr * signal
            self._clip_raw()
        self._refresh_natural()
        return StepResult(loss.detach(), hyperparameter_step=True, hypergradient={"lr": signal.detach()})

    def _finish_hyperparameter_step(self, loss: torch.Tensor, grads_raw: list[torch.Tensor]) -> StepResult:
        assert self.hyper_optimiser is not None
        self.hyper_optimiser.step(grads_raw)
        with torch.no_grad():
            self._clip_raw()
        self._refresh_natural()
        return StepResult(loss.detach(), hyperparameter_step=True, hypergradient=self._by_name(grads_raw))

    def _by_name(self, flat: list[torch.Tensor]) -> dict[str, torch.Tensor]:
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
        if self.lr_clip is None or "lr" not in self.raw:
            return
        value = self.raw["lr"]
        for tensor in value if isinstance(value, list) else [value]:
            tensor.clamp_(self.lr_clip[0], self.lr_clip[1])

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-identically (plain tensors and numbers only)."""
        return {
            "raw": {
                k: ([t.detach().clone() for t in v] if isinstance(v, list) else v.detach().clone())
                for k, v in self.raw.items()
            },
            "fixed": dict(self.fixed),
            "buffers": None if self.buffers is None else [b.clone() for b in self.buffers],
            "step_in_window": self.step_in_window,
            "hyperparameter_steps": self.hyperparameter_steps,
            "hyper_optimiser": None if self.hyper_optimiser is None else self.hyper_optimiser.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (weights are restored separately, by the model)."""
        with torch.no_grad():
            for name, value in state["raw"].items():
                target = self.raw[name]
                if isinstance(target, list):
                    for t, v in zip(target, value):
                        t.copy_(v)
                else:
                    target.copy_(value)
        self.fixed = dict(state["fixed"])
        self.buffers = None if state["buffers"] is None else [b.clone() for b in state["buffers"]]
        self.step_in_window = int(state["step_in_window"])
        self.hyperparameter_steps = int(state["hyperparameter_steps"])
        if self.hyper_optimiser is not None and state["hyper_optimiser"] is not None:
            self.hyper_optimiser.load_state_dict(state["hyper_optimiser"])
        self._segment = None
        self._refresh_natural()

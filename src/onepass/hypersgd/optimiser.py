"""`HyperSGD`: SGD whose learning rate, weight decay and momentum tune themselves while it trains.

This is the engine behind every algorithm of the paper and the public API for users' own models.
It owns the weight update, so it knows which steps to differentiate. As ``torch.optim`` separates an
optimiser class from its step kernels, this module holds the state and the public interface, and
``methods.py`` holds one class per ``method=`` value (table ``METHODS``):

* ``method="neumann"`` (the paper's method, and Lorraine et al. when only weight decay is tuned):
  implicit hypergradient at the last step of each window, with a ``lookback``-term Neumann series.
* ``method="exact"`` (Diff-through-Opt): the last ``lookback`` updates of each window are unrolled.
* ``method="baydin"``: hypergradient descent on log10 lr after every step.
* ``method=None``: plain SGD with fixed hyperparameters (the Random baselines).

All other steps take a fast path (no graph, ``torch._foreach`` updates), which is why the one-pass
methods cost little more than plain training. Steps are given *closures* ``loss(model) -> Tensor``:
on tracked steps the closure is evaluated with copies of the weights swapped into the module's
parameter slots (``slots.py``), so any ``nn.Module`` works unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .adam import HyperparameterAdam
from .hypergradients import clip_grad_norm
from .methods import METHODS, LossClosure, StepResult
from .slots import _ParameterSlots  # also re-exported: older code imports it from here
from .transforms import HYPERPARAMETER_NAMES, from_raw, to_raw

__all__ = ["METHODS", "HyperSGD", "LossClosure", "StepResult"]


def _check_tune(method: str | None, tune: Sequence[str], update_interval: int) -> tuple[Sequence[str], int]:
    """``tune`` and ``update_interval`` as ``method`` needs them; ValueError says what to change."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {tuple(METHODS)}, got {method!r}")
    unknown = set(tune) - set(HYPERPARAMETER_NAMES)
    if unknown:
        raise ValueError(f"tune: unknown hyperparameters {sorted(unknown)}; allowed: {HYPERPARAMETER_NAMES}")
    return METHODS[method].adjust(tune, update_interval)


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
        tune, update_interval = _check_tune(method, tune, update_interval)
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
        self._slots = _ParameterSlots(model, self.params)
        self._numels = [p.numel() for p in self.params]
        natural = {"lr": float(lr), "weight_decay": float(weight_decay), "momentum": float(momentum)}
        self.fixed: dict[str, float] = {k: v for k, v in natural.items() if k not in self.tune}
        self.raw = self._initial_raw(natural)
        self._method = METHODS[method]()
        self.hyper_optimiser = HyperparameterAdam(self.raw_tensors(), lr=hyper_lr) if self._method.uses_adam else None
        self.buffers: list[torch.Tensor] | None = None
        self.step_in_window = 0
        self.hyperparameter_steps = 0
        self._refresh_natural()

    def _initial_raw(self, natural: dict[str, float]) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Leaf tensors of the tuned hyperparameters in raw space (one per weight tensor for HDLR)."""
        reference = self.params[0]
        raw: dict[str, torch.Tensor | list[torch.Tensor]] = {}
        for name in self.tune:
            value = to_raw(name, natural[name])
            if name == "lr" and self.per_parameter_lr:
                raw[name] = [torch.full_like(p, value, requires_grad=True) for p in self.params]
            else:
                raw[name] = torch.tensor(value, dtype=reference.dtype, device=reference.device, requires_grad=True)
        return raw

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

    def multiply_lr(self, factor: float, bounds: tuple[float, float] = (1e-10, 1.0)) -> None:
        """Scale a fixed learning rate (the Random (xLR) baseline's schedule), clipped to bounds."""
        if "lr" in self.tune:
            raise RuntimeError("multiply_lr is for a fixed learning rate; this optimiser tunes lr")
        self.fixed["lr"] = min(max(self.fixed["lr"] * factor, bounds[0]), bounds[1])
        self._refresh_natural()

    # ------------------------------------------------------------------ stepping
    def step(self, train_loss: LossClosure, val_loss: LossClosure | None = None) -> StepResult:
        """One weight update; at the end of a window also one hyperparameter update.

        ``val_loss`` is needed on the last step of each window (and every step for Baydin): it is
        evaluated at the *updated* weights, on whatever batch the closure holds.
        """
        k = self.step_in_window
        if val_loss is None and self._method.needs_validation(k, self.update_interval):
            raise ValueError("this step ends a hyperparameter window: pass val_loss")
        result = self._method.step(self, k, train_loss, val_loss)
        self.step_in_window += 1
        if self.step_in_window == self.update_interval:
            self.step_in_window = 0
            self.hyperparameter_steps += 1
        return result

    # ---------------------------------------------- helpers for the step kernels (methods.py)
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

    def _functional(self, closure: LossClosure, weights: Sequence[torch.Tensor]) -> torch.Tensor:
        """The closure's loss with ``weights`` in place of the parameters (graph on ``weights``)."""
        with self._slots.holding(weights):
            return closure(self.model)

    def _clip(self, grads: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The training gradient, norm-clipped (differentiably) when ``grad_clip_norm`` is set."""
        return clip_grad_norm(grads, self.grad_clip_norm) if self.grad_clip_norm is not None else list(grads)

    @torch.no_grad()
    def _apply_update(self, grads: Sequence[torch.Tensor]) -> None:
        """The SGD update in place, with the cached natural hyperparameters (the fast path)."""
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
        """Copy weights and buffers computed on a graph (an unrolled step) into the optimiser's state."""
        torch._foreach_copy_(self.params, [w.detach() for w in weights])
        self.buffers = [b.detach().clone() for b in buffers]

    def _unflatten(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Views of a flat vector shaped like the parameters."""
        return [piece.view(p.shape) for piece, p in zip(flat.split(self._numels), self.params)]

    def _finish_hyperparameter_step(self, loss: torch.Tensor, grads_raw: list[torch.Tensor]) -> StepResult:
        """Adam step on the raw hyperparameters along ``grads_raw`` (order of :meth:`raw_tensors`)."""
        assert self.hyper_optimiser is not None
        self.hyper_optimiser.step(grads_raw)
        with torch.no_grad():
            self._clip_raw()
        self._refresh_natural()
        return StepResult(loss.detach(), hyperparameter_step=True, hypergradient=self._by_name(grads_raw))

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
        self._method.reset()
        self._refresh_natural()

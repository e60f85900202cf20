"""The step kernels of :class:`~onepass.hypersgd.optimiser.HyperSGD`, one class per ``method=`` value.

`HyperSGD` owns the state (weights, momentum buffers, raw hyperparameters, Adam); a method decides,
for each step of a window of ``update_interval`` steps, whether the step is an ordinary one (the
fast path, :func:`plain_step`) or a differentiated one, and how the hypergradient is formed:

* :class:`NeumannMethod` (``"neumann"``, the paper): the last step of each window is recorded with a
  graph; implicit function theorem with a ``lookback``-term Neumann series.
* :class:`ExactMethod` (``"exact"``, Diff-through-Opt): the last ``lookback`` steps are unrolled with
  a graph and the validation loss is backpropagated through them exactly.
* :class:`BaydinMethod` (``"baydin"``): hypergradient descent on log10 lr after every step.
* :class:`NoTuning` (``None``): plain SGD with fixed hyperparameters.

Adding a method: subclass :class:`HypergradientMethod` (``step``, and where they differ from the
defaults ``needs_validation``, ``adjust``, ``uses_adam``, ``reset``) and add it to :data:`METHODS`.
The kernels reach the optimiser through its package-internal helpers (``_apply_update``,
``_functional``, ``_clip``, ``_finish_hyperparameter_step``, ...), documented in ``optimiser.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from .hypergradients import (
    baydin_hypergradient,
    flatten,
    neumann_series,
    scale_by_lr,
    sgd_direction,
    sgd_update_vjp,
)
from .transforms import natural_per_raw

if TYPE_CHECKING:
    from .optimiser import HyperSGD

LossClosure = Callable[[nn.Module], torch.Tensor]


@dataclass
class StepResult:
    """What one call of :meth:`HyperSGD.step` did."""

    loss: torch.Tensor  # training loss before the update (detached)
    hyperparameter_step: bool  # True when the hyperparameters changed after this step
    hypergradient: dict[str, torch.Tensor] | None = None  # raw-space hypergradient, if computed


def weight_grad(loss: torch.Tensor, weights: Sequence[torch.Tensor], create_graph: bool = False) -> list[torch.Tensor]:
    """dloss/dweights, with zeros for weights the loss does not use (say, an idle head of the model).

    Those weights still decay with weight decay and carry momentum, as if their gradient were zero
    (``torch.optim.SGD`` would skip them instead); they add nothing to any hypergradient.
    """
    grads = torch.autograd.grad(loss, weights, create_graph=create_graph, allow_unused=True, materialize_grads=True)
    return list(grads)


def plain_step(opt: HyperSGD, train_loss: LossClosure) -> StepResult:
    """The fast path: no graph beyond the gradient, ``torch._foreach`` update, no hyperparameter change."""
    loss = train_loss(opt.model)
    grads = opt._clip(weight_grad(loss, opt.params))
    opt._apply_update(grads)
    return StepResult(loss.detach(), hyperparameter_step=False)


class HypergradientMethod:
    """The interface shared by every ``method=`` value; the defaults suit a once-per-window method."""

    uses_adam: ClassVar[bool] = True  # are the raw hyperparameters stepped by HyperparameterAdam?

    @classmethod
    def adjust(cls, tune: Sequence[str], update_interval: int) -> tuple[Sequence[str], int]:
        """The constructor's ``tune`` and ``update_interval`` as this method needs them (or ValueError)."""
        return tune, update_interval

    def needs_validation(self, k: int, update_interval: int) -> bool:
        """Whether step ``k`` of a window evaluates ``val_loss`` (by default: the window's last step)."""
        return k == update_interval - 1

    def step(self, opt: HyperSGD, k: int, train_loss: LossClosure, val_loss: LossClosure | None) -> StepResult:
        """Step ``k`` of the current window: update the weights, and the hyperparameters if due.

        ``val_loss`` is not None whenever :meth:`needs_validation` said so (``HyperSGD.step`` checks).
        """
        raise NotImplementedError

    def reset(self) -> None:
        """Forget state carried between steps of a window (a checkpoint was loaded)."""


class NoTuning(HypergradientMethod):
    """``method=None``: plain SGD with fixed hyperparameters (the Random baselines)."""

    uses_adam = False

    @classmethod
    def adjust(cls, tune: Sequence[str], update_interval: int) -> tuple[Sequence[str], int]:
        return (), update_interval

    def needs_validation(self, k: int, update_interval: int) -> bool:
        return False

    def step(self, opt: HyperSGD, k: int, train_loss: LossClosure, val_loss: LossClosure | None) -> StepResult:
        return plain_step(opt, train_loss)


def _neumann_next_term(
    grads: list[torch.Tensor], before: list[torch.Tensor], lr: float | list[torch.Tensor], wd: float
) -> Callable[[list[torch.Tensor]], list[torch.Tensor]]:
    """``p -> p - (du/dw)^T p`` for :func:`neumann_series`, through the graph of ``grads`` at ``before``."""
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

    return next_term


class NeumannMethod(HypergradientMethod):
    """``method="neumann"``: one-pass implicit hypergradient at the last step of every window.

    Only that step keeps a graph, and only of the gradient: ``du/dlambda`` is closed-form
    (:func:`sgd_update_vjp`), so the update itself runs on the fast path.
    """

    def step(self, opt: HyperSGD, k: int, train_loss: LossClosure, val_loss: LossClosure | None) -> StepResult:
        if k != opt.update_interval - 1:
            return plain_step(opt, train_loss)
        assert val_loss is not None
        # The training loss is taken at a copy of the weights: its graph must keep the old values
        # while the parameters are updated in place.
        before = [p.detach().clone().requires_grad_() for p in opt.params]
        loss = opt._functional(train_loss, before)
        grads = opt._clip(weight_grad(loss, before, create_graph=True))
        previous_buffers = (
            [b.clone() for b in opt.buffers] if opt.buffers is not None and "momentum" in opt.tune else None
        )
        opt._apply_update([g.detach() for g in grads])  # no graph: du/dlambda is closed-form
        direction = opt.buffers
        assert direction is not None
        validation = val_loss(opt.model)
        v = weight_grad(validation, opt.params)
        nat = opt._natural
        lr, wd = nat["lr"], nat["weight_decay"]
        series = neumann_series(v, _neumann_next_term(grads, before, lr, wd), opt.lookback)
        weights = [w.detach() for w in before]
        flat_lr = flatten(lr) if isinstance(lr, list) else lr
        partials = sgd_update_vjp(series, opt.tune, weights, previous_buffers, direction, flat_lr)
        grads_raw: list[torch.Tensor] = []
        for name in opt.tune:  # chain rule to raw space; per-element values back in parameter shapes
            value = flat_lr if name == "lr" else nat[name]
            flat_grad = -partials[name] * natural_per_raw(name, value)
            grads_raw.extend(opt._unflatten(flat_grad) if isinstance(value, torch.Tensor) else [flat_grad])
        return opt._finish_hyperparameter_step(loss, grads_raw)


@dataclass
class _Segment:
    """The unrolled part of an exact window: graph weights, momentum buffers, hyperparameters."""

    weights: list[torch.Tensor]
    buffers: list[torch.Tensor] | None
    natural: dict[str, Any]  # natural values as functions of the raw tensors


class ExactMethod(HypergradientMethod):
    """``method="exact"`` (Diff-through-Opt): backpropagate through the window's last ``lookback`` steps.

    Those steps are taken on graph tensors (the weights held in :class:`_Segment`) and copied into
    the parameters after each step, so the model stays usable between steps.
    """

    def __init__(self) -> None:
        self._segment: _Segment | None = None

    def reset(self) -> None:
        self._segment = None

    def step(self, opt: HyperSGD, k: int, train_loss: LossClosure, val_loss: LossClosure | None) -> StepResult:
        start = opt.update_interval - min(opt.lookback, opt.update_interval)
        if k < start:
            return plain_step(opt, train_loss)
        if k == start or self._segment is None:
            self._segment = _Segment(
                weights=[p.detach().clone().requires_grad_() for p in opt.params],
                buffers=None if opt.buffers is None else [b.detach() for b in opt.buffers],
                natural=opt._natural_graph(),
            )
        seg = self._segment
        nat = seg.natural
        loss = opt._functional(train_loss, seg.weights)
        grads = opt._clip(weight_grad(loss, seg.weights, create_graph=True))
        direction = sgd_direction(grads, seg.weights, seg.buffers, nat["weight_decay"], nat["momentum"])
        new_weights = [w - u for w, u in zip(seg.weights, scale_by_lr(direction, nat["lr"]))]
        seg.weights, seg.buffers = new_weights, direction
        opt._write_weights([w.detach() for w in new_weights], direction)
        if k != opt.update_interval - 1:
            return StepResult(loss.detach(), hyperparameter_step=False)
        assert val_loss is not None
        validation = opt._functional(val_loss, new_weights)
        raw = opt.raw_tensors()
        grads_raw = torch.autograd.grad(validation, raw, allow_unused=True)
        grads_raw = [torch.zeros_like(r) if g is None else g for g, r in zip(grads_raw, raw)]
        self._segment = None
        return opt._finish_hyperparameter_step(loss, list(grads_raw))


class BaydinMethod(HypergradientMethod):
    """``method="baydin"``: after every step, SGD on log10 lr along ``-grad L(w_t) . grad L(w_{t-1})``."""

    uses_adam = False

    @classmethod
    def adjust(cls, tune: Sequence[str], update_interval: int) -> tuple[Sequence[str], int]:
        if set(tune) != {"lr"}:
            raise ValueError("method='baydin' tunes exactly the learning rate: use tune=('lr',)")
        return tune, 1  # every step is a hyperparameter step

    def needs_validation(self, k: int, update_interval: int) -> bool:
        return True

    def step(self, opt: HyperSGD, k: int, train_loss: LossClosure, val_loss: LossClosure | None) -> StepResult:
        assert val_loss is not None
        loss = train_loss(opt.model)
        previous = weight_grad(loss, opt.params)
        opt._apply_update(opt._clip(previous))
        validation = val_loss(opt.model)
        new = weight_grad(validation, opt.params)
        signal = baydin_hypergradient(new, previous)
        raw = opt.raw["lr"]
        assert isinstance(raw, torch.Tensor)
        with torch.no_grad():
            raw -= opt.baydin_lr * signal
            opt._clip_raw()
        opt._refresh_natural()
        return StepResult(loss.detach(), hyperparameter_step=True, hypergradient={"lr": signal.detach()})


# The one table of methods: ``HyperSGD(method=key)`` builds ``METHODS[key]()``.
METHODS: dict[str | None, type[HypergradientMethod]] = {
    None: NoTuning,
    "neumann": NeumannMethod,
    "exact": ExactMethod,
    "baydin": BaydinMethod,
}

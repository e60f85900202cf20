"""The step kernels of :class:`~onepass.hypersgd.optimiser.HyperSGD`, one class per ``method=`` value.

A kernel is functional, as ``torch.optim.SGD`` delegates to ``_single_tensor_sgd``: it receives the
optimiser's state explicitly in a :class:`StepState` (weights, momentum buffers, natural
hyperparameters, raw hyperparameter tensors, a way to evaluate a closure at other weights) and
returns a :class:`KernelOutput` (the training loss, the new momentum buffers, the raw-space
hypergradient when the step ends a window). Hyperparameters are per param group: every group has
its own values, and the hypergradient holds one entry per tuned raw tensor of each group. Like
``torch.optim``'s kernels it updates the weight tensors it is given in place; it never touches the
optimiser object, its hyperparameters or its Adam state: :class:`HyperSGD` applies the
hypergradient, clamps lr and reports.

* :class:`NeumannMethod` (``"neumann"``, the paper): the last step of each window is recorded with a
  graph; implicit function theorem with a ``lookback``-term Neumann series.
* :class:`ExactMethod` (``"exact"``, Diff-through-Opt): the last ``lookback`` steps are unrolled with
  a graph and the validation loss is backpropagated through them exactly.
* :class:`BaydinMethod` (``"baydin"``): hypergradient descent on log10 lr after every step (its
  windows are one step long, set once in :meth:`BaydinMethod.adjust`).
* :class:`NoTuning` (``None``): plain SGD with fixed hyperparameters.

Adding a method: subclass :class:`HypergradientMethod` (``step``, and where they differ from the
defaults ``first_differentiated``, ``adjust``, ``uses_adam``, ``reset``) and add it to :data:`METHODS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from .closures import LossClosure, checked_loss, weight_grad
from .hypergradients import (
    baydin_hypergradient,
    flatten,
    grouped_sgd_update_,
    neumann_series,
    scale_by_lr,
    sgd_direction,
    sgd_update_vjp,
)
from .transforms import natural_per_raw

__all__ = ["METHODS", "HypergradientMethod", "KernelOutput", "StepResult", "StepState", "plain_step"]


@dataclass
class StepResult:
    """What one call of :meth:`HyperSGD.step` did."""

    loss: torch.Tensor | None  # training loss before the update (detached); None for step() without closure
    hyperparameter_step: bool  # True when the hyperparameters changed after this step
    # raw-space hypergradient, if computed: "lr", "weight_decay", "momentum" for the first param group,
    # "lr/1", "momentum/2"... for the others
    hypergradient: dict[str, torch.Tensor] | None = None
    diverged: bool = False  # a loss or hypergradient was not finite: the hyperparameters were left unchanged


@dataclass
class StepState:
    """The optimiser's state a kernel reads, passed explicitly (``torch.optim``'s functional style).

    ``params`` and the tensors in ``buffers`` may be updated in place by :func:`grouped_sgd_update_`;
    nothing else is written. Param group ``i`` is ``params[groups[i]]``, with values ``natural[i]``.
    ``evaluate(closure, weights)`` is the closure's loss with ``weights`` swapped into the model (on
    the differentiation-friendly kernels: math attention, no cuDNN RNN).
    """

    model: nn.Module
    params: list[torch.Tensor]
    buffers: list[torch.Tensor] | None
    groups: list[slice]  # each param group's slice of ``params`` (and of ``buffers``)
    natural: list[dict[str, Any]]  # per group, cached: floats, or a list of tensors for a per-parameter lr
    natural_graph: Callable[[], list[dict[str, Any]]]  # per group, as functions of the raw tensors
    raw: list[torch.Tensor]  # the tuned raw tensors, group by group, each group's in the order of its tune
    tune: list[tuple[str, ...]]  # per group
    update_interval: int
    lookback: int
    clip: Callable[[Sequence[torch.Tensor]], list[torch.Tensor]]
    evaluate: Callable[[LossClosure, Sequence[torch.Tensor]], torch.Tensor]


@dataclass
class KernelOutput:
    """What a kernel hands back: the optimiser stores ``buffers`` and applies ``hypergradient``."""

    loss: torch.Tensor  # the training loss (graph or not: the optimiser detaches it)
    buffers: list[torch.Tensor] | None
    hypergradient: list[torch.Tensor] | None = None  # raw-space, one per tensor of ``StepState.raw``
    validation_loss: torch.Tensor | None = None


def plain_step(state: StepState, train_loss: LossClosure) -> KernelOutput:
    """The fast path: no graph beyond the gradient, ``torch._foreach`` update, no hyperparameter change."""
    loss = checked_loss(train_loss, state.model, "train_loss")
    grads = state.clip(weight_grad(loss, state.params, "train_loss"))
    buffers = grouped_sgd_update_(state.params, grads, state.buffers, state.groups, state.natural)
    return KernelOutput(loss, buffers)


class HypergradientMethod:
    """The interface shared by every ``method=`` value; the defaults suit a once-per-window method."""

    uses_adam: ClassVar[bool] = True  # True: Adam on the raw values; False: SGD with ``baydin_lr``

    @classmethod
    def adjust(cls, tune: Sequence[str], update_interval: int) -> tuple[Sequence[str], int]:
        """The constructor's ``tune`` and ``update_interval`` as this method needs them (or ValueError)."""
        return tune, update_interval

    def first_differentiated(self, update_interval: int, lookback: int) -> int:
        """The first step of a window that needs the closures; earlier ones are plain SGD steps.

        Steps before it can be taken from ``p.grad`` (``loss.backward(); opt.step()``); ``val_loss``
        is needed on the last step of each window from this step on.
        """
        return update_interval - 1

    def step(self, state: StepState, k: int, train_loss: LossClosure, val_loss: LossClosure | None) -> KernelOutput:
        """Step ``k`` of the current window; the output carries a hypergradient on the window's last step."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget state carried between steps of a window (a checkpoint was loaded)."""


class NoTuning(HypergradientMethod):
    """``method=None``: plain SGD with fixed hyperparameters (the Random baselines)."""

    uses_adam = False

    @classmethod
    def adjust(cls, tune: Sequence[str], update_interval: int) -> tuple[Sequence[str], int]:
        return (), update_interval

    def first_differentiated(self, update_interval: int, lookback: int) -> int:
        return update_interval  # never

    def step(self, state: StepState, k: int, train_loss: LossClosure, val_loss: LossClosure | None) -> KernelOutput:
        return plain_step(state, train_loss)


def _neumann_next_term(
    grads: list[torch.Tensor], before: list[torch.Tensor], groups: list[slice], natural: list[dict[str, Any]]
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
        # du/dw = diag(lr) (dg/dw + diag(wd)), so p - (du/dw)^T p = p - (dg/dw)^T (lr p) - wd lr p,
        # with each group's lr and wd on its slice of p.
        lr, wd = natural[0]["lr"], natural[0]["weight_decay"]
        if len(groups) == 1 and not isinstance(lr, list):
            # one scalar lr: (1 - lr wd) p - lr (dg/dw)^T p, without a scaled copy of p
            product = hessian_product(p)
            if wd != 0:
                torch._foreach_mul_(p, 1.0 - lr * wd)
            torch._foreach_add_(p, product, alpha=-lr)
            return p
        scaled = [t for s, values in zip(groups, natural) for t in torch._foreach_mul(p[s], values["lr"])]
        torch._foreach_sub_(p, hessian_product(scaled))
        for s, values in zip(groups, natural):
            if values["weight_decay"] != 0:
                torch._foreach_add_(p[s], scaled[s], alpha=-values["weight_decay"])
        return p

    return next_term


def _raw_hypergradient(
    partials: dict[str, torch.Tensor], tune: Sequence[str], natural: dict[str, Any], flat_lr: Any, shapes: list
) -> list[torch.Tensor]:
    """Chain rule from natural to raw units; per-element values back in the parameters' shapes."""
    out: list[torch.Tensor] = []
    for name in tune:
        value = flat_lr if name == "lr" else natural[name]
        flat_grad = -partials[name] * natural_per_raw(name, value)
        if isinstance(value, torch.Tensor):
            out.extend(piece.view(shape) for piece, shape in zip(flat_grad.split([s.numel() for s in shapes]), shapes))
        else:
            out.append(flat_grad)
    return out


class NeumannMethod(HypergradientMethod):
    """``method="neumann"``: one-pass implicit hypergradient at the last step of every window.

    Only that step keeps a graph, and only of the gradient: ``du/dlambda`` is closed-form
    (:func:`sgd_update_vjp`), so the update itself runs on the fast path. The Neumann series spans
    all weights (the Hessian couples the groups); each group's hypergradient is then the product
    of the series on its slice with the derivative of its own update.
    """

    def step(self, state: StepState, k: int, train_loss: LossClosure, val_loss: LossClosure | None) -> KernelOutput:
        if k != state.update_interval - 1:
            return plain_step(state, train_loss)
        assert val_loss is not None
        # The training loss is taken at a copy of the weights: its graph must keep the old values
        # while the parameters are updated in place.
        before = [p.detach().clone().requires_grad_() for p in state.params]
        loss = state.evaluate(train_loss, before)
        grads = state.clip(weight_grad(loss, before, "train_loss", create_graph=True))
        tunes_momentum = any("momentum" in tune for tune in state.tune)
        previous_buffers = [b.clone() for b in state.buffers] if state.buffers is not None and tunes_momentum else None
        direction = grouped_sgd_update_(
            state.params, [g.detach() for g in grads], state.buffers, state.groups, state.natural
        )
        validation = checked_loss(val_loss, state.model, "val_loss")
        v = weight_grad(validation, state.params, "val_loss")
        series = neumann_series(v, _neumann_next_term(grads, before, state.groups, state.natural), state.lookback)
        del grads, v  # the gradient's graph is no longer needed
        weights = [w.detach() for w in before]
        hypergradient: list[torch.Tensor] = []
        for s, nat, tune in zip(state.groups, state.natural, state.tune):
            if not tune:
                continue
            lr = nat["lr"]
            flat_lr = flatten(lr) if isinstance(lr, list) else lr
            previous = None if previous_buffers is None else previous_buffers[s]
            partials = sgd_update_vjp(series[s], tune, weights[s], previous, direction[s], flat_lr)
            shapes = [p.shape for p in state.params[s]]
            hypergradient.extend(_raw_hypergradient(partials, tune, nat, flat_lr, shapes))
        return KernelOutput(loss, direction, hypergradient, validation)


@dataclass
class _Segment:
    """The unrolled part of an exact window: graph weights, momentum buffers, hyperparameters."""

    weights: list[torch.Tensor]
    buffers: list[torch.Tensor] | None
    natural: list[dict[str, Any]]  # per group, natural values as functions of the raw tensors


class ExactMethod(HypergradientMethod):
    """``method="exact"`` (Diff-through-Opt): backpropagate through the window's last ``lookback`` steps.

    Those steps are taken on graph tensors (the weights held in :class:`_Segment`) and copied into
    the parameters after each step, so the model stays usable between steps. The graph cannot be
    saved: a checkpoint taken inside the unrolled segment resumes with a hypergradient through the
    segment's remaining steps only (a checkpoint anywhere else resumes bit-identically).
    """

    def __init__(self) -> None:
        self._segment: _Segment | None = None

    def reset(self) -> None:
        self._segment = None

    def first_differentiated(self, update_interval: int, lookback: int) -> int:
        return update_interval - min(lookback, update_interval)

    def step(self, state: StepState, k: int, train_loss: LossClosure, val_loss: LossClosure | None) -> KernelOutput:
        start = self.first_differentiated(state.update_interval, state.lookback)
        if k < start:
            return plain_step(state, train_loss)
        if k == start or self._segment is None:
            self._segment = _Segment(
                weights=[p.detach().clone().requires_grad_() for p in state.params],
                buffers=None if state.buffers is None else [b.detach() for b in state.buffers],
                natural=state.natural_graph(),
            )
        seg = self._segment
        loss = state.evaluate(train_loss, seg.weights)
        grads = state.clip(weight_grad(loss, seg.weights, "train_loss", create_graph=True))
        direction: list[torch.Tensor] = []
        new_weights: list[torch.Tensor] = []
        for s, nat in zip(state.groups, seg.natural):
            weights, buffers = seg.weights[s], None if seg.buffers is None else seg.buffers[s]
            step = sgd_direction(grads[s], weights, buffers, nat["weight_decay"], nat["momentum"])
            direction.extend(step)
            new_weights.extend(w - u for w, u in zip(weights, scale_by_lr(step, nat["lr"])))
        seg.weights, seg.buffers = new_weights, direction
        with torch.no_grad():
            torch._foreach_copy_(state.params, [w.detach() for w in new_weights])
        buffers = [b.detach().clone() for b in direction]
        if k != state.update_interval - 1:
            return KernelOutput(loss, buffers)
        assert val_loss is not None
        validation = state.evaluate(val_loss, new_weights)
        grads_raw = torch.autograd.grad(validation, state.raw, allow_unused=True)
        grads_raw = [torch.zeros_like(r) if g is None else g for g, r in zip(grads_raw, state.raw)]
        self._segment = None
        return KernelOutput(loss, buffers, list(grads_raw), validation)


class BaydinMethod(HypergradientMethod):
    """``method="baydin"``: after every step, SGD on log10 lr along ``-grad L(w_t) . grad L(w_{t-1})``.

    With several param groups each group's lr follows the dot product over its own weights.
    """

    uses_adam = False

    @classmethod
    def adjust(cls, tune: Sequence[str], update_interval: int) -> tuple[Sequence[str], int]:
        if set(tune) != {"lr"}:
            raise ValueError("method='baydin' tunes exactly the learning rate: use tune=('lr',)")
        return tune, 1  # one-step windows: every step is a hyperparameter step

    def step(self, state: StepState, k: int, train_loss: LossClosure, val_loss: LossClosure | None) -> KernelOutput:
        assert val_loss is not None
        loss = checked_loss(train_loss, state.model, "train_loss")
        previous = weight_grad(loss, state.params, "train_loss")
        clipped = state.clip(previous)
        buffers = grouped_sgd_update_(state.params, clipped, state.buffers, state.groups, state.natural)
        validation = checked_loss(val_loss, state.model, "val_loss")
        new = weight_grad(validation, state.params, "val_loss")
        pairs = [(new[s], previous[s]) for s, tune in zip(state.groups, state.tune) if tune]
        hypergradient = [baydin_hypergradient(*pair) for pair in pairs]
        return KernelOutput(loss, buffers, hypergradient, validation)


# The one table of methods: ``HyperSGD(method=key)`` builds ``METHODS[key]()``.
METHODS: dict[str | None, type[HypergradientMethod]] = {
    None: NoTuning,
    "neumann": NeumannMethod,
    "exact": ExactMethod,
    "baydin": BaydinMethod,
}

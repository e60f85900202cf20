"""Calling the user's loss closures, and the errors that say what went wrong when they misbehave.

HyperSGD differentiates what a closure returns, sometimes twice, so a closure must return a scalar
tensor computed *through the model it is given*. The common mistakes (a torch.optim-style closure
with no argument, ``backward()`` inside it, ``torch.no_grad()``, returning ``loss.item()``, using
captured weight tensors instead of the model) would otherwise surface as autograd errors that do not
name the cause, or not at all: a closure that ignores its model makes the differentiated step see a
zero gradient. The checks here cost nothing on the hot path (type and flag tests, and translating
exceptions), except :func:`check_through_model`, which walks the graph on differentiated steps only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import torch
from torch import nn

LossClosure = Callable[[nn.Module], torch.Tensor]


def _cannot_take_model(closure: Callable) -> bool:
    try:
        inspect.signature(closure).bind(None)
    except TypeError:
        return True
    except ValueError:  # no signature to inspect (a builtin)
        return False
    return False


def checked_loss(closure: LossClosure, model: nn.Module, name: str) -> torch.Tensor:
    """``closure(model)``, checked to be a differentiable scalar tensor."""
    if not callable(closure):
        raise TypeError(f"{name} must be a callable model -> loss tensor, got {type(closure).__name__}")
    try:
        loss = closure(model)
    except TypeError as error:
        if _cannot_take_model(closure):
            raise TypeError(
                f"{name} is called with the model and must return its loss: write `lambda model: "
                "loss_fn(model(x), y)`. (A torch.optim-style closure with no argument that calls "
                "backward() goes in step(closure=...), for the plain steps only.)"
            ) from error
        raise
    return check_loss_value(loss, name)


def check_loss_value(loss: object, name: str) -> torch.Tensor:
    """The loss as a tensor HyperSGD can differentiate, or an error that says why it cannot."""
    if not isinstance(loss, torch.Tensor):
        raise TypeError(
            f"{name} returned a {type(loss).__name__}, not a tensor: return the loss tensor itself "
            "(not loss.item() or float(loss)); HyperSGD differentiates it"
        )
    if loss.numel() != 1:
        raise ValueError(
            f"{name} returned a tensor of shape {tuple(loss.shape)}: reduce it to a scalar loss (e.g. .mean())"
        )
    if not loss.requires_grad:
        raise ValueError(
            f"{name}'s loss does not depend on any trainable weight: was it computed under torch.no_grad() "
            "or torch.inference_mode(), detached, or with another model? HyperSGD differentiates it, "
            "so compute it with grad enabled from the model passed to the closure"
        )
    return loss


def weight_grad(
    loss: torch.Tensor, weights: Sequence[torch.Tensor], name: str, create_graph: bool = False
) -> list[torch.Tensor]:
    """dloss/dweights, with zeros for weights the loss does not use (say, an idle head of the model).

    Those weights still decay with weight decay and carry momentum, as if their gradient were zero
    (``torch.optim.SGD`` would skip them instead); they add nothing to any hypergradient. A loss
    that uses *none* of the weights is an error: the closure computed it from something else.
    """
    try:
        grads = torch.autograd.grad(loss, weights, create_graph=create_graph, allow_unused=True)
    except RuntimeError as error:
        if "second time" in str(error):
            raise RuntimeError(
                f"{name}: its graph was already freed: do not call backward() inside the closure. Return "
                "the loss; HyperSGD computes the gradients it needs (twice differentiated on some steps)"
            ) from error
        raise
    if all(g is None for g in grads):
        raise ValueError(
            f"{name}'s loss does not depend on the model's weights: compute it from the model passed to "
            "the closure (`lambda model: loss_fn(model(x), y)`), not from another module or captured tensors"
        )
    return [torch.zeros_like(w) if g is None else g for g, w in zip(grads, weights)]


def check_through_model(loss: torch.Tensor, params: Sequence[torch.Tensor], name: str) -> None:
    """Raise when ``loss`` reaches the optimiser's live parameters although copies were swapped in.

    On a differentiated step the closure runs with copies of the weights in the model's parameter
    slots. A loss that still reaches the live parameters was computed from tensors the closure
    captured (``w = model.weight`` outside it, or another reference), so the differentiated step
    would silently see a partial gradient.
    """
    live = {id(p) for p in params}
    seen: set[int] = set()
    stack = [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        variable = getattr(node, "variable", None)
        if variable is not None and id(variable) in live:
            raise ValueError(
                f"{name} uses the model's weights through tensors it captured (e.g. `w = model.weight` "
                "outside the closure), not through the model it is given: on differentiated steps HyperSGD "
                "swaps copies of the weights into the model, so read every weight from the model argument"
            )
        stack.extend(next_node for next_node, _ in node.next_functions)

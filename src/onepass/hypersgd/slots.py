"""Evaluating a model at weights other than its own parameters, without copying the model.

Differentiated steps (the last step of a Neumann window, the unrolled steps of Diff-through-Opt)
need the training loss as a function of *copies* of the weights: the graph must keep the old values
while the real parameters are updated in place. Swapping the copies into the module's parameter
slots for one closure call does that for any ``nn.Module``, with the user's closure unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


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
        """Within the block, slot ``i``'s parameter reads as ``weights[i]`` (graph included)."""
        originals = [table[attr] for table, attr, _ in self.slots]
        try:
            for table, attr, i in self.slots:
                table[attr] = weights[i]
            yield
        finally:
            for (table, attr, _), original in zip(self.slots, originals):
                table[attr] = original

"""Adam for the handful of hyperparameter tensors that HyperSGD optimises.

The update is exactly ``torch.optim.Adam``'s single-tensor rule (defaults: betas (0.9, 0.999), eps
1e-8, no weight decay or amsgrad), so results match it bit for bit. It exists because
``torch.optim.Optimizer.step`` costs 50-200 µs of per-call machinery (hooks, state lookup, grad
plumbing); with a hyperparameter step every 10 weight steps of a small model that is a few percent
of the whole run, for arithmetic on a few scalars.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


class HyperparameterAdam:
    """Adam over a fixed list of tensors, stepped with explicitly passed gradients."""

    def __init__(
        self,
        tensors: Sequence[torch.Tensor],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        if lr <= 0:
            raise ValueError(f"hyperparameter optimiser lr must be positive, got {lr}")
        self.tensors = list(tensors)
        self.lr = lr
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.steps = 0
        self.exp_avg = [torch.zeros_like(t, memory_format=torch.preserve_format) for t in self.tensors]
        self.exp_avg_sq = [torch.zeros_like(t, memory_format=torch.preserve_format) for t in self.tensors]

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor]) -> None:
        """One Adam step of every tensor along ``grads`` (same order and shapes as the tensors)."""
        grads = [g.detach() for g in grads]
        self.steps += 1
        torch._foreach_lerp_(self.exp_avg, grads, 1 - self.beta1)
        torch._foreach_mul_(self.exp_avg_sq, self.beta2)
        torch._foreach_addcmul_(self.exp_avg_sq, grads, grads, value=1 - self.beta2)
        step_size = self.lr / (1 - self.beta1**self.steps)
        denom = torch._foreach_sqrt(self.exp_avg_sq)
        torch._foreach_div_(denom, (1 - self.beta2**self.steps) ** 0.5)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(self.tensors, self.exp_avg, denom, value=-step_size)

    def state_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "exp_avg": [t.clone() for t in self.exp_avg],
            "exp_avg_sq": [t.clone() for t in self.exp_avg_sq],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])
        for target, value in zip(self.exp_avg, state["exp_avg"]):
            target.copy_(value)
        for target, value in zip(self.exp_avg_sq, state["exp_avg_sq"]):
            target.copy_(value)

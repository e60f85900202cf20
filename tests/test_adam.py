"""HyperparameterAdam is torch.optim.Adam's rule, bit for bit, and resumes exactly from its state."""

from __future__ import annotations

import torch

from onepass.hypersgd.adam import HyperparameterAdam


def _tensors() -> list[torch.Tensor]:
    return [torch.tensor(-3.0), torch.linspace(-2.0, 1.0, 7), torch.tensor(0.4)]


def _gradients(steps: int) -> list[list[torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [[torch.randn(t.shape, generator=g) * 10 ** (k % 3 - 1) for t in _tensors()] for k in range(steps)]


def test_matches_torch_adam_bit_for_bit():
    ours, reference = _tensors(), [t.requires_grad_() for t in _tensors()]
    adam = HyperparameterAdam(ours, lr=0.05)
    torch_adam = torch.optim.Adam(reference, lr=0.05, foreach=False)
    for grads in _gradients(40):
        adam.step(grads)
        for tensor, grad in zip(reference, grads):
            tensor.grad = grad.clone()
        torch_adam.step()
    for a, b in zip(ours, reference):
        assert torch.equal(a, b.detach())


def test_resumes_exactly_from_state_dict():
    gradients = _gradients(20)
    straight = _tensors()
    adam = HyperparameterAdam(straight, lr=0.05)
    for grads in gradients:
        adam.step(grads)

    first = _tensors()
    adam = HyperparameterAdam(first, lr=0.05)
    for grads in gradients[:9]:
        adam.step(grads)
    state = adam.state_dict()
    resumed = [t.clone() for t in first]
    adam = HyperparameterAdam(resumed, lr=0.05)
    adam.load_state_dict(state)
    for grads in gradients[9:]:
        adam.step(grads)
    for a, b in zip(straight, resumed):
        assert torch.equal(a, b)

"""The ``method=`` table: every method is one class behind one interface, and a new one needs one entry."""

from __future__ import annotations

import torch
from torch import nn

from onepass import HyperSGD
from onepass.hypersgd.methods import METHODS, HypergradientMethod, StepResult, plain_step


def test_the_table_holds_the_four_methods_of_the_paper():
    assert list(METHODS) == [None, "neumann", "exact", "baydin"]
    assert all(issubclass(cls, HypergradientMethod) for cls in METHODS.values())


class ConstantHypergradient(HypergradientMethod):
    """A toy method: at the end of each window, push every raw hyperparameter along +1."""

    def step(self, opt, k, train_loss, val_loss) -> StepResult:
        result = plain_step(opt, train_loss)
        if k != opt.update_interval - 1:
            return result
        val_loss(opt.model)
        return opt._finish_hyperparameter_step(result.loss, [torch.ones_like(r) for r in opt.raw_tensors()])


def test_a_new_method_is_one_class_and_one_table_entry(monkeypatch):
    monkeypatch.setitem(METHODS, "constant", ConstantHypergradient)
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    x = torch.randn(8, 3)
    opt = HyperSGD(model, 0.1, 1e-3, 0.5, method="constant", tune=("lr",), update_interval=2)

    def loss(m: nn.Module) -> torch.Tensor:
        return m(x).pow(2).mean()

    assert not opt.step(loss).hyperparameter_step  # the first step of a window needs no val_loss
    result = opt.step(loss, loss)
    assert result.hyperparameter_step and set(result.hypergradient) == {"lr"}
    assert opt.hyperparameters["lr"] < 0.1  # Adam moved log10 lr against the +1 gradient
    assert opt.state_dict()["hyper_optimiser"]["steps"] == 1

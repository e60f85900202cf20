"""The ``method=`` table: every method is one functional kernel behind one interface, and a new one needs one entry."""

from __future__ import annotations

import torch
from torch import nn

from onepass import HyperSGD
from onepass.hypersgd.methods import METHODS, HypergradientMethod, KernelOutput, StepState, plain_step


def test_the_table_holds_the_four_methods_of_the_paper():
    assert list(METHODS) == [None, "neumann", "exact", "baydin"]
    assert all(issubclass(cls, HypergradientMethod) for cls in METHODS.values())


class ConstantHypergradient(HypergradientMethod):
    """A toy method: at the end of each window, push every raw hyperparameter along +1."""

    def step(self, state: StepState, k, train_loss, val_loss) -> KernelOutput:
        out = plain_step(state, train_loss)
        if k != state.update_interval - 1:
            return out
        val_loss(state.model)
        return KernelOutput(out.loss, out.buffers, [torch.ones_like(r) for r in state.raw])


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


def test_kernels_get_the_state_explicitly_and_never_the_optimiser():
    """issue 20 section 4: a kernel sees a StepState (no HyperSGD), and HyperSGD applies what it returns."""
    import inspect

    from onepass.hypersgd import methods

    source = inspect.getsource(methods)
    assert "from .optimiser" not in source and "import optimiser" not in source  # not even for type hints
    own = source.replace("torch._foreach", "").replace("self._segment", "")
    assert "._" not in own  # no private member of another object

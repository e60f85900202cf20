"""Issue 19, section 1: setups that gave silently wrong results now train correctly or raise at once.

Each test fails on the optimiser before the issue (it trained on, with replicas drifting, a zero
gradient, untrained parameters, or errors that did not name the cause).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from onepass import HyperSGD


def data(seed: int = 0, n: int = 16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g), torch.randn(n, 1, generator=g)


X, Y = data()
XV, YV = data(1)


def mse(model: nn.Module, x: torch.Tensor = X, y: torch.Tensor = Y) -> torch.Tensor:
    return (model(x) - y).pow(2).mean()


def val(model: nn.Module) -> torch.Tensor:
    return mse(model, XV, YV)


def net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))


def test_ddp_is_refused_at_construction(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        wrapped = nn.parallel.DistributedDataParallel(net())
        with pytest.raises(ValueError, match="DistributedDataParallel"):
            HyperSGD(wrapped, 0.1, 1e-3, 0.5)
    finally:
        dist.destroy_process_group()


def test_a_closure_with_captured_weights_is_refused_at_the_differentiated_step():
    model = net()
    w, b = model[2].weight, model[2].bias  # captured outside the closure: invisible to the swap

    def captured(m: nn.Module) -> torch.Tensor:
        return (torch.tanh(m[0](X)) @ w.T + b - Y).pow(2).mean()

    opt = HyperSGD(model, 0.1, 1e-3, 0.5, update_interval=2)
    opt.step(captured)  # a plain step: the same gradient either way
    with pytest.raises(ValueError, match="captured"):
        opt.step(captured, val)


def test_a_closure_that_uses_another_module_is_refused():
    model, other = net(0), net(1)
    opt = HyperSGD(model, 0.1, 1e-3, 0.5, update_interval=2)
    with pytest.raises(ValueError, match="does not depend on the model's weights"):
        opt.step(lambda m: mse(other), val)


@pytest.mark.parametrize("change", ["assign", "new_head", "unfrozen"])
def test_parameters_changed_after_construction_are_detected(change):
    model = net()
    model[0].requires_grad_(change != "unfrozen")
    opt = HyperSGD(model, 0.1, 1e-3, 0.5, update_interval=2)
    opt.step(mse)
    if change == "assign":
        model.load_state_dict(copy.deepcopy(net(1).state_dict()), assign=True)
    elif change == "new_head":
        model.append(nn.Linear(1, 1))
    else:
        model[0].requires_grad_(True)
    with pytest.raises(RuntimeError, match="trainable parameters changed"):
        opt.step(mse, val)


def test_unfrozen_parameters_are_trained_after_add_param_group():
    model = net()
    model[0].requires_grad_(False)
    opt = HyperSGD(model, 0.1, 1e-3, 0.5, update_interval=2)
    opt.step(mse)
    model[0].requires_grad_(True)
    opt.add_param_group({"params": model[0].parameters()})
    before = model[0].weight.detach().clone()
    for _ in range(3):
        opt.step(mse, val)
    assert not torch.equal(before, model[0].weight)
    assert len(opt.param_groups) == 2 and len(opt.buffers) == 4


def test_a_model_cast_after_construction_is_followed():
    model = net()
    opt = HyperSGD(model, 0.1, 1e-3, 0.5, update_interval=2)
    opt.step(mse)
    model.double()
    for _ in range(3):
        opt.step(lambda m: mse(m, X.double(), Y.double()), lambda m: mse(m, XV.double(), YV.double()))
    assert opt.buffers[0].dtype == torch.float64 and opt.raw["lr"].dtype == torch.float64
    assert opt.hyper_optimiser.exp_avg[0].dtype == torch.float64


def test_load_state_dict_validates_before_changing_anything():
    model = net()
    opt = HyperSGD(model, 0.1, 1e-3, 0.5, update_interval=2)
    opt.step(mse)
    before = opt.state_dict()
    with pytest.raises(ValueError, match="another optimiser"):
        opt.load_state_dict(torch.optim.SGD(model.parameters(), 0.1).state_dict())
    other = HyperSGD(net(), 0.1, 1e-3, 0.5, tune=("lr",), update_interval=2).state_dict()
    other["step_in_window"] = 1
    with pytest.raises(ValueError, match="tunes"):
        opt.load_state_dict(other)
    bad = copy.deepcopy(before)
    bad["step_in_window"] = 7
    bad["raw"]["lr"] = torch.tensor(-3.0)
    with pytest.raises(ValueError, match="out of range"):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["step_in_window"] == 1 and torch.equal(after["raw"]["lr"], before["raw"]["lr"])


def test_a_state_saved_at_another_dtype_is_cast_on_load():
    saved = HyperSGD(net().double(), 0.1, 1e-3, 0.5, update_interval=2)
    saved.step(lambda m: mse(m, X.double(), Y.double()))
    opt = HyperSGD(net(), 0.1, 1e-3, 0.5, update_interval=2)
    opt.load_state_dict(saved.state_dict())
    assert opt.buffers[0].dtype == torch.float32 and opt.raw["lr"].dtype == torch.float32
    opt.step(mse, val)


def test_half_precision_models_keep_float32_hyperparameters():
    model = net().to(torch.bfloat16)
    opt = HyperSGD(model, 0.1, 1e-3, 0.5, update_interval=2)
    x, y = X.bfloat16(), Y.bfloat16()
    for _ in range(4):
        opt.step(lambda m: mse(m, x, y), lambda m: mse(m, XV.bfloat16(), YV.bfloat16()))
    assert all(t.dtype == torch.float32 for t in opt.raw_tensors())
    assert all(t.dtype == torch.float32 for t in opt.hyper_optimiser.exp_avg)
    assert opt.hyperparameter_steps == 2 and opt.hyperparameters["lr"] != 0.1


def test_exact_resumes_bit_identically_outside_its_unrolled_segment():
    def run(split: int | None) -> torch.Tensor:
        model = net()
        opt = HyperSGD(model, 0.1, 1e-3, 0.5, method="exact", update_interval=4, lookback=2)
        for s in range(8):
            if s == split:
                state, weights = opt.state_dict(), copy.deepcopy(model.state_dict())
                model = net(5)
                model.load_state_dict(weights)
                opt = HyperSGD(model, 0.1, 1e-3, 0.5, method="exact", update_interval=4, lookback=2)
                opt.load_state_dict(state)
            opt.step(lambda m, s=s: mse(m, X + s), val)
        return torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    assert torch.equal(run(None), run(5))  # step 5 = k 1 of the second window, before its segment
    assert "except inside the" in HyperSGD.state_dict.__doc__

"""Issue 19, section 3: HyperSGD keeps torch.optim's contract, and the examples of docs/LIBRARY.md's
"ordinary training loop" section run here: a DataLoader loop with ``loss.backward(); opt.step()``,
gradient accumulation under autocast, a Transformer, freezing for the last epochs, checkpoints.
"""

from __future__ import annotations

import io

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from onepass import HyperSGD


def regression(n: int = 256, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    return TensorDataset(x, x.sin().sum(1, keepdim=True))


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 1))


def test_it_is_a_torch_optimizer_with_groups_zero_grad_and_repr():
    model = mlp()
    opt = HyperSGD(model, 0.05, 1e-4, 0.5, update_interval=2)
    assert isinstance(opt, torch.optim.Optimizer)
    assert abs(opt.param_groups[0]["lr"] - 0.05) < 1e-8 and len(opt.param_groups[0]["params"]) == 4
    x, y = regression()[:]
    loss = nn.functional.mse_loss
    opt.step(lambda m: loss(m(x), y))
    opt.step(lambda m: loss(m(x), y), lambda m: loss(m(x), y))
    assert opt.param_groups[0]["lr"] == opt.hyperparameters["lr"] != 0.05  # loggers read the tuned values
    loss(model(x), y).backward()
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    assert "method='neumann'" in repr(opt) and "lr=" in repr(opt)


def closure_run(model: nn.Module, loader: DataLoader, valid: DataLoader) -> None:
    opt = HyperSGD(model, 0.01, 1e-4, 0.5, update_interval=4)
    loss_fn = nn.functional.mse_loss
    for (x, y), (xv, yv) in zip(loader, valid):
        opt.step(lambda m, x=x, y=y: loss_fn(m(x), y), lambda m, xv=xv, yv=yv: loss_fn(m(xv), yv))


def plain_loop_run(model: nn.Module, loader: DataLoader, valid: DataLoader) -> HyperSGD:
    opt = HyperSGD(model, 0.01, 1e-4, 0.5, update_interval=4)
    loss_fn = nn.functional.mse_loss
    for (x, y), (xv, yv) in zip(loader, valid):
        if opt.needs_closures:  # the last step of each window is differentiated
            opt.step(lambda m, x=x, y=y: loss_fn(m(x), y), lambda m, xv=xv, yv=yv: loss_fn(m(xv), yv))
        else:  # every other step is the ordinary one
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
    return opt


def test_the_ordinary_loop_matches_the_closure_api_bit_for_bit():
    loader = DataLoader(regression(), batch_size=16)
    valid = DataLoader(regression(seed=1), batch_size=16)
    a, b = mlp(), mlp()
    closure_run(a, loader, valid)
    opt = plain_loop_run(b, loader, valid)
    assert opt.hyperparameter_steps == 4
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_gradient_accumulation_under_autocast():
    model = mlp()
    opt = HyperSGD(model, 0.01, 1e-4, 0.5, update_interval=4)
    loss_fn = nn.functional.mse_loss
    valid = regression(64, seed=1)[:]

    def amp(fn):
        def call(m: nn.Module) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return fn(m)

        return call

    for x, y in DataLoader(regression(), batch_size=32):
        if opt.needs_closures:
            opt.step(amp(lambda m, x=x, y=y: loss_fn(m(x), y)), amp(lambda m: loss_fn(m(valid[0]), valid[1])))
            continue
        opt.zero_grad()
        for xs, ys in zip(x.chunk(2), y.chunk(2)):  # two micro-batches, one step
            with torch.autocast("cpu", dtype=torch.bfloat16):
                (loss_fn(model(xs), ys) / 2).backward()
        opt.step()
    assert opt.hyperparameter_steps == 2 and opt.hyperparameters["lr"] != 0.01


def test_a_transformer_in_the_ordinary_loop():
    torch.manual_seed(0)
    model = nn.Sequential(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), nn.Linear(8, 1))
    seqs = torch.randn(64, 5, 8, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(TensorDataset(seqs, seqs.mean((1, 2)).unsqueeze(1)), batch_size=8)
    opt = HyperSGD(model, 0.01, 1e-4, 0.5, update_interval=4, grad_clip_norm=1.0)
    loss_fn = nn.functional.mse_loss

    def loss(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return loss_fn(m(x).mean(1), y)

    for x, y in loader:
        if opt.needs_closures:
            opt.step(lambda m, x=x, y=y: loss(m, x, y), lambda m: loss(m, seqs[:8], seqs[:8].mean((1, 2)).unsqueeze(1)))
        else:
            opt.zero_grad()
            loss(model, x, y).backward()
            opt.step()
    assert opt.hyperparameter_steps == 2


def test_hyperparameters_can_be_read_set_and_frozen():
    model = mlp()
    x, y = regression()[:]
    loss = nn.functional.mse_loss
    opt = HyperSGD(model, 0.05, 1e-4, 0.5, update_interval=2)
    opt.set_hyperparameters(lr=0.02, momentum=0.9)
    assert abs(opt.hyperparameters["lr"] - 0.02) < 1e-8 and abs(opt.param_groups[0]["momentum"] - 0.9) < 1e-6
    opt.freeze("momentum")
    assert opt.tune == ("lr", "weight_decay")
    opt.step(lambda m: loss(m(x), y))
    opt.step(lambda m: loss(m(x), y), lambda m: loss(m(x), y))
    assert abs(opt.hyperparameters["momentum"] - 0.9) < 1e-6
    opt.freeze()  # the last epochs: plain SGD at the tuned values, no closures needed
    frozen = opt.hyperparameters
    for _ in range(3):
        assert not opt.needs_closures
        opt.zero_grad()
        loss(model(x), y).backward()
        opt.step()
    assert opt.hyperparameters == frozen


def test_state_dict_round_trips_through_torch_save_weights_only():
    model = mlp()
    x, y = regression()[:]
    loss = nn.functional.mse_loss
    opt = HyperSGD(model, 0.05, 1e-4, 0.5, update_interval=2, per_parameter_lr=True)
    for _ in range(3):
        opt.step(lambda m: loss(m(x), y), lambda m: loss(m(x), y))
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    fresh = HyperSGD(model, 0.05, 1e-4, 0.5, update_interval=2, per_parameter_lr=True)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert fresh.hyperparameters == opt.hyperparameters and fresh.step_in_window == 1


def test_an_lr_scheduler_sets_a_fixed_learning_rate():
    model = mlp()
    x, y = regression()[:]
    opt = HyperSGD(model, 0.1, 1e-4, 0.5, tune=("weight_decay", "momentum"), update_interval=2)
    schedule = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(2):
        opt.step(lambda m: nn.functional.mse_loss(m(x), y), lambda m: nn.functional.mse_loss(m(x), y))
        schedule.step()
    opt.step(lambda m: nn.functional.mse_loss(m(x), y))
    assert opt.hyperparameters["lr"] == 0.025

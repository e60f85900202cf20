"""Issue 19, section 2: HyperSGD on the models people train today, with its own defaults, and with
errors that name the first mistakes people make. Each test fails on the optimiser before the issue.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from onepass import HyperSGD

X = torch.randn(6, 5, 16, generator=torch.Generator().manual_seed(0))


def square(model: nn.Module) -> torch.Tensor:
    return model(X).pow(2).mean()


def transformer() -> nn.Module:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
    return nn.Sequential(layer, nn.Linear(16, 1))


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(16, 2, batch_first=True)
        self.qkv = nn.Linear(16, 48)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).unflatten(-1, (3, 2, 8)).permute(2, 0, 3, 1, 4)
        fused = nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)
        return self.mha(fused, fused, fused)[0]


@pytest.mark.parametrize("build", [transformer, Attention], ids=["TransformerEncoderLayer", "sdpa+MHA"])
def test_attention_models_train_and_tune(build):
    model = build()
    opt = HyperSGD(model, 0.01, 1e-4, 0.5, update_interval=2, lookback=3)
    for _ in range(4):
        result = opt.step(square, square)
    assert result.hyperparameter_step and opt.hyperparameters["lr"] != 0.01


def test_the_differentiated_steps_alone_use_the_math_attention_backend():
    seen = []

    class Spy(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            from torch.nn.attention import SDPBackend, _cur_sdpa_kernel_backends

            seen.append(set(_cur_sdpa_kernel_backends()) == {SDPBackend.MATH})
            return x

    model = nn.Sequential(nn.Linear(16, 16), Spy())
    opt = HyperSGD(model, 0.01, 1e-4, 0.5, update_interval=2)
    opt.step(square)
    opt.step(square, square)
    assert seen == [False, True, False]  # plain step; differentiated step; validation loss


def test_lstm_models_train_and_tune():
    torch.manual_seed(0)
    lstm = nn.LSTM(16, 8, batch_first=True)
    opt = HyperSGD(lstm, 0.01, 1e-4, 0.5, update_interval=2)
    for _ in range(4):
        opt.step(lambda m: m(X)[0].pow(2).mean(), lambda m: m(X)[0].pow(2).mean())
    assert opt.hyperparameter_steps == 2 and torch.backends.cudnn.enabled


def test_compiled_models_are_refused_at_construction_with_the_fix():
    with pytest.raises(ValueError, match="_orig_mod"):
        HyperSGD(torch.compile(nn.Linear(2, 1)), 0.1)


def test_its_own_defaults_work():
    model = nn.Linear(16, 1)
    opt = HyperSGD(model, lr=0.1)
    assert opt.tune == ("lr",)
    for _ in range(10):
        result = opt.step(square, square)
    assert result.hyperparameter_step and opt.hyperparameters["lr"] != 0.1


@pytest.mark.parametrize("where", ["train", "validation", "hypergradient"])
def test_non_finite_values_never_reach_the_hyperparameters(where):
    model = nn.Linear(16, 1)
    opt = HyperSGD(model, 0.1, 1e-3, 0.5, update_interval=2)
    bad = {"train": (math.nan, 1.0), "validation": (1.0, math.inf), "hypergradient": (1.0, 0.0)}[where]

    def loss(scale: float):  # scale 0: a finite loss (0) whose gradient is NaN (sqrt at 0)
        return lambda m: torch.sqrt(square(m) * scale)

    opt.step(loss(1.0))
    before = opt.hyperparameters
    train_scale, val_scale = bad
    result = opt.step(loss(train_scale), loss(val_scale))
    assert result.diverged and not result.hyperparameter_step
    assert opt.hyperparameters == before and opt.hyper_optimiser.steps == 0
    if where != "train":  # a NaN training gradient reached the weights (as in torch.optim.SGD): restore them
        opt.step(loss(1.0))
        assert opt.step(loss(1.0), loss(1.0)).hyperparameter_step  # it recovers once values are finite


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": math.nan}, "lr must be"),
        ({"lr": math.inf}, "lr must be"),
        ({"lr": -0.1}, "lr must be"),
        ({"weight_decay": -1e-4}, "weight_decay must be"),
        ({"weight_decay": math.nan}, "weight_decay must be"),
        ({"hyper_lr": -0.05}, "hyper_lr must be"),
        ({"hyper_lr": math.inf}, "hyper_lr must be"),
        ({"lr_clip": (0.0, -10.0)}, "reversed"),
        ({"lr_clip": (-10.0, math.nan)}, "lr_clip must be"),
        ({"lr_clip": (-3.0, -2.0)}, "outside lr_clip"),
        ({"grad_clip_norm": -1.0}, "grad_clip_norm must be"),
        ({"update_interval": 2.5}, "update_interval must be a positive integer"),
        ({"lookback": 0}, "lookback must be a positive integer"),
    ],
)
def test_arguments_the_cli_refuses_are_refused_here_too(kwargs, match):
    settings = {"lr": 0.1, "weight_decay": 1e-4, "momentum": 0.5, **kwargs}
    with pytest.raises(ValueError, match=match):
        HyperSGD(nn.Linear(2, 1), **settings)


def test_passing_parameters_instead_of_the_model_says_what_to_do():
    with pytest.raises(TypeError, match="not HyperSGD\\(model.parameters\\(\\)"):
        HyperSGD(nn.Linear(2, 1).parameters(), 0.1)


def test_common_closure_mistakes_are_named():
    model = nn.Linear(16, 1)
    opt = HyperSGD(model, 0.1, 1e-3, 0.5, update_interval=2)
    with pytest.raises(TypeError, match="called with the model"):
        opt.step(lambda: square(model))
    with pytest.raises(TypeError, match="not a tensor"):
        opt.step(lambda m: square(m).item())
    with pytest.raises(ValueError, match="scalar"):
        opt.step(lambda m: m(X))

    def with_backward(m: nn.Module) -> torch.Tensor:
        loss = square(m)
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="backward\\(\\) inside the closure"):
        opt.step(with_backward)
    opt.step(square)

    def no_grad_validation(m: nn.Module) -> torch.Tensor:
        with torch.no_grad():
            return square(m)

    with pytest.raises(ValueError, match="no_grad"):
        opt.step(square, no_grad_validation)

"""Hypergradients of HyperSGD against independently computed exact values (float64)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from onepass.hypersgd.optimiser import HyperSGD

LN10 = math.log(10.0)


@pytest.fixture(autouse=True)
def float64_default():
    """These comparisons are at 1e-8: run them in float64, and restore the default afterwards."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)



class Quadratic(nn.Module):
    """A weight vector; the loss closures below make it a quadratic problem."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.linspace(-1.0, 1.0, n, dtype=torch.float64))


def tiny_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()


def net_data(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x, xv = torch.randn(12, 3, generator=g), torch.randn(7, 3, generator=g)
    return x, torch.sin(x.sum(1, keepdim=True)), xv, torch.cos(xv.sum(1, keepdim=True))


def flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def unflatten_call(model: nn.Module, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Evaluate ``model`` at flat weights ``theta`` with explicit tensor algebra (no HyperSGD code)."""
    shapes = [p.shape for p in model.parameters()]
    pieces, i = [], 0
    for s in shapes:
        n = int(torch.tensor(s).prod()) if len(s) else 1
        pieces.append(theta[i : i + n].reshape(s))
        i += n
    w1, b1, w2, b2 = pieces
    return torch.tanh(x @ w1.T + b1) @ w2.T + b2


def clipped(g: torch.Tensor, max_norm: float | None) -> torch.Tensor:
    """torch.nn.utils.clip_grad_norm_'s rule on one flat gradient, out of place."""
    return g if max_norm is None else g * torch.clamp(max_norm / (g.norm() + 1e-6), max=1.0)


def explicit_neumann(model, x, y, xv, yv, buf, lr, wd, mom, lookback, first_step, clip=None):
    """The Neumann hypergradient from explicit Jacobian matrices, in raw (log10/logit) space."""
    theta0 = flat(model)

    def grad_train(theta):
        theta = theta.detach().requires_grad_() if not theta.requires_grad else theta
        loss = ((unflatten_call(model, theta, x) - y) ** 2).mean()
        return clipped(torch.autograd.grad(loss, theta, create_graph=True)[0], clip)

    def update(theta, raw):
        eta, xi, mu = 10 ** raw[0], 10 ** raw[1], torch.sigmoid(raw[2])
        g = grad_train(theta)
        d = g + xi * theta if first_step else mu * buf + g + xi * theta
        return eta * d

    raw = torch.tensor([math.log10(lr), math.log10(wd), math.log(mom / (1 - mom))])
    J = jacobian(lambda t: update(t, raw), theta0)  # du/dw, n x n
    dU = jacobian(lambda r: update(theta0, r), raw)  # du/dlambda, n x 3
    theta1 = (theta0 - update(theta0, raw)).detach().requires_grad_()
    val = ((unflatten_call(model, theta1, xv) - yv) ** 2).mean()
    v = torch.autograd.grad(val, theta1)[0]
    n = theta0.numel()
    series = sum(torch.linalg.matrix_power(torch.eye(n) - J, j).T @ v for j in range(lookback))
    return -(dU.T @ series), J, dU, v


@pytest.mark.parametrize("lookback", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("first_step", [True, False])
def test_neumann_matches_explicit_jacobians(lookback, first_step):
    x, y, xv, yv = net_data()
    model = tiny_net()
    lr, wd, mom = 0.3, 1e-2, 0.7
    opt = HyperSGD(
        model,
        lr,
        wd,
        mom,
        method="neumann",
        update_interval=2 if not first_step else 1,
        lookback=lookback,
        lr_clip=None,
    )
    train = lambda m: ((m(x) - y) ** 2).mean()  # noqa: E731
    val = lambda m: ((m(xv) - yv) ** 2).mean()  # noqa: E731
    if not first_step:
        opt.step(train, val)  # a plain step, so a momentum buffer exists
    buf = None if first_step else torch.cat([b.reshape(-1) for b in opt.buffers])
    expected, *_ = explicit_neumann(model, x, y, xv, yv, buf, lr, wd, mom, lookback, first_step)
    result = opt.step(train, val)
    got = torch.stack([result.hypergradient[k] for k in ("lr", "weight_decay", "momentum")])
    if first_step:
        assert got[2] == 0  # momentum does not act on the very first update
        expected[2] = 0.0
    torch.testing.assert_close(got, expected, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("first_step", [True, False])
def test_neumann_with_gradient_clipping_matches_explicit_jacobians(first_step):
    """Clipping makes g depend nonlinearly on all weights; the HVPs must go through it."""
    x, y, xv, yv = net_data(11)
    model = tiny_net(3)
    lr, wd, mom, clip = 0.3, 1e-2, 0.7, 0.05
    opt = HyperSGD(
        model, lr, wd, mom, update_interval=1 if first_step else 2, lookback=4, lr_clip=None, grad_clip_norm=clip
    )
    train = lambda m: ((m(x) - y) ** 2).mean()  # noqa: E731
    val = lambda m: ((m(xv) - yv) ** 2).mean()  # noqa: E731
    if not first_step:
        opt.step(train, val)
    theta = flat(model).requires_grad_()
    raw_grad = torch.autograd.grad(((unflatten_call(model, theta, x) - y) ** 2).mean(), theta)[0]
    assert raw_grad.norm() > 5 * clip  # the clipping is active
    buf = None if first_step else torch.cat([b.reshape(-1) for b in opt.buffers])
    expected, *_ = explicit_neumann(model, x, y, xv, yv, buf, lr, wd, mom, 4, first_step, clip=clip)
    result = opt.step(train, val)
    got = torch.stack([result.hypergradient[k] for k in ("lr", "weight_decay", "momentum")])
    if first_step:
        expected[2] = 0.0
    torch.testing.assert_close(got, expected, rtol=1e-8, atol=1e-12)


def test_neumann_converges_to_implicit_function_theorem_on_a_contraction():
    n = 6
    g = torch.Generator().manual_seed(3)
    m = torch.randn(n, n, generator=g)
    A = m @ m.T / n + torch.eye(n)  # positive definite
    b = torch.randn(n, generator=g)
    Av = A + 0.3 * torch.randn(n, n, generator=g) @ torch.randn(n, n, generator=g).T / n
    lr, wd = 0.1, 0.05
    train = lambda mod: 0.5 * mod.theta @ A @ mod.theta - b @ mod.theta  # noqa: E731
    val = lambda mod: 0.5 * mod.theta @ Av @ mod.theta - mod.theta.sum()  # noqa: E731
    errors = []
    exact = None
    for lookback in (1, 2, 5, 10, 40, 200):
        model = Quadratic(n)
        opt = HyperSGD(
            model,
            lr,
            wd,
            0.5,
            tune=("lr", "weight_decay"),
            method="neumann",
            update_interval=1,
            lookback=lookback,
            lr_clip=None,
        )
        theta = model.theta.detach().clone()
        result = opt.step(train, val)
        got = torch.stack([result.hypergradient["lr"], result.hypergradient["weight_decay"]])
        if exact is None:
            # Implicit function theorem with the exact inverse: J = lr (A + wd I), first step (no momentum).
            J = lr * (A + wd * torch.eye(n))
            d = A @ theta - b + wd * theta
            dU = torch.stack([lr * LN10 * d, lr * wd * LN10 * theta], dim=1)
            theta1 = theta - lr * d
            v = 0.5 * (Av + Av.T) @ theta1 - torch.ones(n)
            exact = -(dU.T @ torch.linalg.solve(J.T, v))
        errors.append(float((got - exact).norm() / exact.norm()))
    assert all(later <= earlier + 1e-12 for earlier, later in zip(errors, errors[1:])), errors
    assert errors[0] > 0.1 and errors[-1] < 1e-6, errors


def _window_val_loss(model_state, buffers, raw, x, y, xv, yv, steps, first_ever):
    """Validation loss after ``steps`` SGD updates at raw hyperparameters (plain tensor algebra)."""
    model = tiny_net()
    model.load_state_dict(model_state)
    theta = flat(model)
    buf = None if first_ever else buffers.clone()
    eta, xi, mu = 10 ** raw[0], 10 ** raw[1], 1 / (1 + math.exp(-raw[2]))
    for _ in range(steps):
        t = theta.clone().requires_grad_()
        g = torch.autograd.grad(((unflatten_call(model, t, x) - y) ** 2).mean(), t)[0]
        d = g + xi * theta if buf is None else mu * buf + g + xi * theta
        buf = d
        theta = theta - eta * d
    return float(((unflatten_call(model, theta, xv) - yv) ** 2).mean())


@pytest.mark.parametrize("window,lookback", [(4, 4), (5, 2)])
def test_diff_through_opt_matches_central_finite_differences(window, lookback):
    x, y, xv, yv = net_data(5)
    model = tiny_net(2)
    lr, wd, mom = 0.2, 1e-2, 0.6
    opt = HyperSGD(model, lr, wd, mom, method="exact", update_interval=window, lookback=lookback, lr_clip=None)
    train = lambda m: ((m(x) - y) ** 2).mean()  # noqa: E731
    val = lambda m: ((m(xv) - yv) ** 2).mean()  # noqa: E731
    for _ in range(window - lookback):
        opt.step(train, val)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    buffers = None if opt.buffers is None else torch.cat([b.reshape(-1) for b in opt.buffers])
    result = None
    for _ in range(lookback):
        result = opt.step(train, val)
    assert result.hyperparameter_step
    raw = [math.log10(lr), math.log10(wd), math.log(mom / (1 - mom))]
    eps = 1e-5
    for index, name in enumerate(("lr", "weight_decay", "momentum")):
        plus, minus = list(raw), list(raw)
        plus[index] += eps
        minus[index] -= eps
        fd = (
            _window_val_loss(state, buffers, plus, x, y, xv, yv, lookback, buffers is None)
            - _window_val_loss(state, buffers, minus, x, y, xv, yv, lookback, buffers is None)
        ) / (2 * eps)
        got = float(result.hypergradient[name])
        assert abs(got - fd) <= 1e-5 * abs(fd), (name, got, fd)


@pytest.mark.parametrize("method", ["neumann", "exact"])
def test_per_parameter_lrs_sum_to_the_scalar_lr_hypergradient(method):
    x, y, xv, yv = net_data(7)
    results = {}
    for per_parameter in (False, True):
        model = tiny_net(4)
        opt = HyperSGD(
            model,
            0.1,
            1e-3,
            0.5,
            method=method,
            per_parameter_lr=per_parameter,
            update_interval=3,
            lookback=3,
            lr_clip=None,
        )
        for _ in range(3):
            result = opt.step(lambda m: ((m(x) - y) ** 2).mean(), lambda m: ((m(xv) - yv) ** 2).mean())
        results[per_parameter] = result.hypergradient
    per_element = results[True]["lr"]
    assert per_element.numel() == sum(p.numel() for p in tiny_net().parameters())
    # raw space d/dlog10(eta_k) = eta ln10 dL/deta_k, so sums agree in raw and in natural space alike
    torch.testing.assert_close(per_element.sum(), results[False]["lr"], rtol=1e-10, atol=1e-14)
    for name in ("weight_decay", "momentum"):
        torch.testing.assert_close(results[True][name], results[False][name], rtol=1e-10, atol=1e-14)


def test_baydin_is_minus_the_dot_product_of_consecutive_gradients():
    x, y, xv, yv = net_data(9)
    model = tiny_net(6)
    reference = tiny_net(6)
    lr = 0.05
    opt = HyperSGD(model, lr, 0.0, 0.0, tune=("lr",), method="baydin", lr_clip=None, baydin_lr=1e-3)
    train = lambda m: ((m(x) - y) ** 2).mean()  # noqa: E731
    val = lambda m: ((m(xv) - yv) ** 2).mean()  # noqa: E731
    result = opt.step(train, val)
    # by hand: gradient at w0 on the training batch, SGD step, gradient at w1 on the second batch
    g0 = torch.autograd.grad(train(reference), list(reference.parameters()))
    with torch.no_grad():
        for p, g in zip(reference.parameters(), g0):
            p -= lr * g
    g1 = torch.autograd.grad(val(reference), list(reference.parameters()))
    expected = -sum(float((a * b).sum()) for a, b in zip(g0, g1))
    assert float(result.hypergradient["lr"]) == pytest.approx(expected, rel=1e-12)
    assert opt.hyperparameters["lr"] == pytest.approx(10 ** (math.log10(lr) - 1e-3 * expected), rel=1e-12)
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q)


class WithIdleHead(nn.Module):
    """``tiny_net`` plus a head the loss never uses (a common shape of users' models)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.net = tiny_net(seed)
        self.idle = nn.Linear(3, 2).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.mark.parametrize("method", ["neumann", "exact", "baydin"])
def test_parameters_the_loss_does_not_use_change_no_hypergradient(method):
    """Unused weights get a zero gradient: they decay, but their Neumann terms and unrolled paths are
    decoupled from the validation loss, so every hypergradient equals the one without them."""
    x, y, xv, yv = net_data(13)
    tune = ("lr",) if method == "baydin" else ("lr", "weight_decay", "momentum")
    results = []
    for model in (tiny_net(8), WithIdleHead(8)):
        opt = HyperSGD(model, 0.2, 1e-2, 0.6, tune=tune, method=method, update_interval=3, lookback=3, lr_clip=None)
        hypergradients = []
        for _ in range(6):
            result = opt.step(lambda m: ((m(x) - y) ** 2).mean(), lambda m: ((m(xv) - yv) ** 2).mean())
            if result.hyperparameter_step:
                hypergradients.append(torch.stack([result.hypergradient[k] for k in tune]))
        results.append(torch.stack(hypergradients))
    assert results[0].abs().min() > 0
    torch.testing.assert_close(results[1], results[0], rtol=1e-12, atol=0)

"""Per-group hyperparameters (issue 19, section 3): each entry of ``param_groups`` has its own start
values, its own tuned set and its own hypergradient.

The hypergradients of every group are checked against values computed here without HyperSGD code
(explicit Jacobians, central finite differences, hand-computed dot products, all in float64); the
usual recipe (no weight decay on biases and norm layers, a group excluded from tuning) is run as a
user would; one group given explicitly is bit-identical to the default.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from test_hypergradients import net_data as data  # the same tiny float64 problem
from test_hypergradients import tiny_net
from torch import nn
from torch.autograd.functional import jacobian
from torch.func import functional_call

from onepass import HyperSGD

START = {"lr": 0.3, "weight_decay": 1e-2, "momentum": 0.7}  # group 0 (the weight matrices)
BIASES = {"lr": 0.1, "weight_decay": 3e-2, "momentum": 0.4}  # group 1 (the biases)
NAMES = ("lr", "weight_decay", "momentum")


@pytest.fixture
def float64_default():
    """Comparisons at 1e-8 run in float64; the default dtype is restored afterwards."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def split(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Weight matrices and biases: group 0 and group 1 (not the model's parameter order)."""
    return [p for p in model.parameters() if p.ndim > 1], [p for p in model.parameters() if p.ndim == 1]


def grouped(model: nn.Module, **kwargs) -> HyperSGD:
    weights, biases = split(model)
    groups = [{"params": weights}, {"params": biases, **BIASES}]
    return HyperSGD(model, **START, param_groups=groups, lr_clip=None, **kwargs)


def closures(x, y, xv, yv):
    return (lambda m: ((m(x) - y) ** 2).mean()), (lambda m: ((m(xv) - yv) ** 2).mean())


# ------------------------------------------------------------------ independent computations
class Flat:
    """The model as a function of one flat weight vector (model order), via torch.func.functional_call."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.named = list(model.named_parameters())
        _, biases = split(model)
        bias_ids = {id(p) for p in biases}
        # which group each weight element belongs to: 0 for matrices, 1 for biases
        self.member = torch.cat([torch.full((p.numel(),), int(id(p) in bias_ids)) for _, p in self.named])

    def theta(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for _, p in self.named])

    def loss(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        pieces, i = {}, 0
        for name, p in self.named:
            pieces[name] = theta[i : i + p.numel()].view_as(p)
            i += p.numel()
        return ((functional_call(self.model, pieces, (x,)) - y) ** 2).mean()

    def buffers(self, opt: HyperSGD) -> torch.Tensor | None:
        """The optimiser's momentum buffers (stored in group order) in model order."""
        if opt.buffers is None:
            return None
        where = {id(p): i for i, p in enumerate(opt.params)}
        return torch.cat([opt.buffers[where[id(p)]].reshape(-1) for _, p in self.named])

    def per_element(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """lr, weight decay, momentum of every weight element from raw = (group 0's three, group 1's three)."""
        eta, xi, mu = 10 ** raw[0::3], 10 ** raw[1::3], torch.sigmoid(raw[2::3])
        return eta[self.member], xi[self.member], mu[self.member]


def raw_start() -> torch.Tensor:
    def raw(values):
        return [
            math.log10(values["lr"]),
            math.log10(values["weight_decay"]),
            math.log(values["momentum"] / (1 - values["momentum"])),
        ]

    return torch.tensor(raw(START) + raw(BIASES))


def explicit_neumann(f: Flat, x, y, xv, yv, buf, lookback: int) -> torch.Tensor:
    """-(du/dlambda)^T sum_j ((I - du/dw)^T)^j v from explicit Jacobian matrices, six raw values."""
    theta0, raw = f.theta(), raw_start()

    def update(theta: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        t = theta if theta.requires_grad else theta.detach().requires_grad_()
        g = torch.autograd.grad(f.loss(t, x, y), t, create_graph=True)[0]
        eta, xi, mu = f.per_element(r)
        d = g + xi * theta if buf is None else mu * buf + g + xi * theta
        return eta * d

    J = jacobian(lambda t: update(t, raw), theta0)
    dU = jacobian(lambda r: update(theta0, r), raw)
    theta1 = (theta0 - update(theta0, raw)).detach().requires_grad_()
    v = torch.autograd.grad(f.loss(theta1, xv, yv), theta1)[0]
    eye = torch.eye(theta0.numel())
    series = sum(torch.linalg.matrix_power(eye - J, j).T @ v for j in range(lookback))
    return -(dU.T @ series)


def as_vector(hypergradient: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.stack([hypergradient[k] for k in (*NAMES, *(f"{n}/1" for n in NAMES))])


# ------------------------------------------------------------------ hypergradients against exact values
@pytest.mark.parametrize("lookback", [1, 3])
@pytest.mark.parametrize("first_step", [True, False])
def test_neumann_hypergradient_of_each_group_matches_explicit_jacobians(float64_default, lookback, first_step):
    x, y, xv, yv = data()
    model = tiny_net()
    opt = grouped(model, update_interval=1 if first_step else 2, lookback=lookback)
    train, val = closures(x, y, xv, yv)
    if not first_step:
        opt.step(train)  # a plain step, so momentum buffers exist
    f = Flat(model)
    expected = explicit_neumann(f, x, y, xv, yv, f.buffers(opt), lookback)
    got = as_vector(opt.step(train, val).hypergradient)
    if first_step:  # momentum does not act on the very first update
        assert got[2] == 0 and got[5] == 0
        expected[2] = expected[5] = 0.0
    assert (got - got[[3, 4, 5, 0, 1, 2]]).abs().max() > 1e-3  # the groups' hypergradients differ
    torch.testing.assert_close(got, expected, rtol=1e-8, atol=1e-12)


def window_validation_loss(f: Flat, theta, buf, raw, x, y, xv, yv, steps: int) -> float:
    """Validation loss after ``steps`` SGD updates with per-group raw values (plain tensor algebra)."""
    eta, xi, mu = f.per_element(raw)
    for _ in range(steps):
        t = theta.clone().requires_grad_()
        g = torch.autograd.grad(f.loss(t, x, y), t)[0]
        buf = g + xi * theta if buf is None else mu * buf + g + xi * theta
        theta = theta - eta * buf
    return float(f.loss(theta, xv, yv))


def test_exact_hypergradient_of_each_group_matches_central_finite_differences(float64_default):
    x, y, xv, yv = data(5)
    model = tiny_net(2)
    opt = grouped(model, method="exact", update_interval=4, lookback=2)
    train, val = closures(x, y, xv, yv)
    for _ in range(2):
        opt.step(train, val)
    f = Flat(model)
    theta, buf = f.theta(), f.buffers(opt)
    for _ in range(2):
        result = opt.step(train, val)
    assert result.hyperparameter_step
    got = as_vector(result.hypergradient)
    eps = 1e-5
    for index in range(6):
        plus, minus = raw_start(), raw_start()
        plus[index] += eps
        minus[index] -= eps
        fd = (
            window_validation_loss(f, theta, buf, plus, x, y, xv, yv, 2)
            - window_validation_loss(f, theta, buf, minus, x, y, xv, yv, 2)
        ) / (2 * eps)
        assert abs(float(got[index]) - fd) <= 1e-5 * abs(fd), (index, float(got[index]), fd)


def test_baydin_moves_each_groups_lr_along_its_own_gradients(float64_default):
    x, y, xv, yv = data(9)
    model, reference = tiny_net(6), tiny_net(6)
    weights, biases = split(model)
    groups = [{"params": weights, "lr": 0.05}, {"params": biases, "lr": 0.2}]
    opt = HyperSGD(model, 0.1, param_groups=groups, tune=("lr",), method="baydin", lr_clip=None, baydin_lr=1e-3)
    train, val = closures(x, y, xv, yv)
    result = opt.step(train, val)
    g0 = dict(zip(reference.state_dict(), torch.autograd.grad(train(reference), list(reference.parameters()))))
    with torch.no_grad():
        for name, p in reference.named_parameters():
            p -= (0.05 if p.ndim > 1 else 0.2) * g0[name]
    g1 = dict(zip(reference.state_dict(), torch.autograd.grad(val(reference), list(reference.parameters()))))
    for key, (ndim_is_matrix, lr) in {"lr": (True, 0.05), "lr/1": (False, 0.2)}.items():
        names = [n for n, p in reference.named_parameters() if (p.ndim > 1) == ndim_is_matrix]
        expected = -sum(float((g0[n] * g1[n]).sum()) for n in names)
        assert float(result.hypergradient[key]) == pytest.approx(expected, rel=1e-12)
        index = 0 if key == "lr" else 1
        assert opt.group_hyperparameters[index]["lr"] == pytest.approx(10 ** (math.log10(lr) - 1e-3 * expected))


@pytest.mark.parametrize("method", ["neumann", "exact"])
@pytest.mark.parametrize("per_parameter_lr", [False, True])
def test_groups_with_equal_values_split_the_one_group_hypergradient(float64_default, method, per_parameter_lr):
    """A shared hyperparameter's derivative is the sum of its groups' (chain rule), window after window."""
    x, y, xv, yv = data(7)
    train, val = closures(x, y, xv, yv)
    kwargs = {"method": method, "update_interval": 3, "lookback": 3, "lr_clip": None, "hyper_lr": 1e-12}
    kwargs["per_parameter_lr"] = per_parameter_lr
    one = HyperSGD(tiny_net(4), **START, **kwargs)
    model = tiny_net(4)
    two = HyperSGD(model, **START, param_groups=[{"params": p} for p in split(model)], **kwargs)
    for _ in range(6):
        a, b = one.step(train, val), two.step(train, val)
        if a.hyperparameter_step:
            for name in NAMES:
                total = b.hypergradient[name].sum() + b.hypergradient[f"{name}/1"].sum()
                torch.testing.assert_close(total, a.hypergradient[name].sum(), rtol=1e-9, atol=1e-14)


# ------------------------------------------------------------------ one group is the default, bit for bit
@pytest.mark.parametrize("method", ["neumann", "exact", "baydin", None])
def test_one_explicit_group_is_bit_identical_to_the_default(method):
    x, y, xv, yv = data(3)
    train, val = closures(x.float(), y.float(), xv.float(), yv.float())
    tune = ("lr",) if method == "baydin" else None
    runs = []
    for explicit in (False, True):
        model = tiny_net(1).float()
        groups = [{"params": list(model.parameters())}] if explicit else None
        opt = HyperSGD(model, 0.05, 1e-3, 0.5, param_groups=groups, tune=tune, method=method, update_interval=3)
        for _ in range(9):
            opt.step(train, val)
        runs.append([*(p.detach() for p in model.parameters()), *opt.buffers, *opt.raw_tensors()])
    assert all(torch.equal(a, b) for a, b in zip(*runs))


# ------------------------------------------------------------------ the recipe users write
class Classifier(nn.Module):
    """Linear layers with a LayerNorm and a BatchNorm: the usual split is decay / no decay."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 16))
        self.norm = nn.BatchNorm1d(16)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.norm(self.body(x))))


def decay_split(model: nn.Module) -> list[dict]:
    """The common recipe: weight decay on weight matrices only, not on biases or norm layers."""
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


def classification(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 8, generator=g)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()


def test_no_weight_decay_on_biases_and_norm_layers():
    model = Classifier()
    x, labels = classification()
    xv, labels_v = classification(1)
    opt = HyperSGD(model, 0.05, 5e-4, 0.9, param_groups=decay_split(model), update_interval=2)
    assert opt.hyper_groups[0].tune == ("lr", "weight_decay", "momentum")
    assert opt.hyper_groups[1].tune == ("lr", "momentum")  # a weight decay of 0 stays 0
    assert opt.param_groups[1]["weight_decay"] == 0.0 and opt.param_groups[1]["tune"] == ("lr", "momentum")
    # the plain steps are torch.optim.SGD's with the same groups
    reference = copy.deepcopy(model)
    sgd = torch.optim.SGD(decay_split(reference), lr=0.05, weight_decay=5e-4, momentum=0.9)
    loss = nn.functional.cross_entropy
    opt.zero_grad()
    loss(model(x), labels).backward()
    opt.step()
    loss(reference(x), labels).backward()
    sgd.step()
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    for _ in range(7):
        result = opt.step(lambda m: loss(m(x), labels), lambda m: loss(m(xv), labels_v))
    assert result.hyperparameter_step and opt.hyperparameter_steps == 4
    decay, no_decay = opt.group_hyperparameters
    assert no_decay["weight_decay"] == 0.0 and decay["weight_decay"] != 5e-4
    assert decay["lr"] != no_decay["lr"] and decay["momentum"] != no_decay["momentum"]  # tuned apart
    assert set(result.hypergradient) == {"lr", "weight_decay", "momentum", "lr/1", "momentum/1"}


@pytest.mark.parametrize("method", ["neumann", "exact"])
def test_a_group_excluded_from_tuning_keeps_its_values_while_the_others_move(method):
    model = Classifier()
    x, labels = classification()
    head = list(model.head.parameters())
    rest = [p for p in model.parameters() if all(p is not q for q in head)]
    groups = [{"params": rest}, {"params": head, "lr": 0.01, "momentum": 0.5, "tune": ()}]
    opt = HyperSGD(model, 0.05, 5e-4, 0.9, param_groups=groups, method=method, update_interval=3, lookback=2)
    assert opt.hyper_groups[1].adam is None and opt.hyper_groups[1].raw_tensors() == []
    head_before = [p.detach().clone() for p in head]
    loss = nn.functional.cross_entropy
    for _ in range(9):
        result = opt.step(lambda m: loss(m(x), labels), lambda m: loss(m(x), labels))
    frozen = {"lr": 0.01, "weight_decay": 5e-4, "momentum": 0.5}
    assert opt.group_hyperparameters[1] == frozen and opt.param_groups[1]["lr"] == 0.01
    assert all(opt.group_hyperparameters[0][k] != v for k, v in {"lr": 0.05, "momentum": 0.9}.items())
    assert set(result.hypergradient) == {"lr", "weight_decay", "momentum"}
    assert all(not torch.equal(a, b) for a, b in zip(head_before, head))  # trained, at fixed values


# ------------------------------------------------------------------ reading, setting, freezing, checkpoints
def test_set_freeze_and_schedulers_act_on_one_group():
    model = Classifier()
    x, labels = classification()
    opt = HyperSGD(model, 0.05, 5e-4, 0.9, param_groups=decay_split(model), update_interval=2)
    with pytest.raises(RuntimeError, match="group_hyperparameters"):
        opt.hyperparameters  # noqa: B018 (two groups: no single answer)
    opt.set_hyperparameters(group=1, lr=0.2)
    assert opt.group_hyperparameters[1]["lr"] == pytest.approx(0.2, rel=1e-6)
    assert opt.group_hyperparameters[0]["lr"] == pytest.approx(0.05, rel=1e-6)
    opt.freeze("lr", group=1)
    assert opt.hyper_groups[1].tune == ("momentum",) and opt.tune == ("lr", "weight_decay", "momentum")
    opt.param_groups[0]["lr"] = 0.01  # what an LR scheduler does; applied at the next step
    loss = nn.functional.cross_entropy
    opt.step(lambda m: loss(m(x), labels))  # a plain step: the edit is applied, nothing tuned yet
    assert opt.group_hyperparameters[0]["lr"] == pytest.approx(0.01, rel=1e-6)
    assert opt.group_hyperparameters[1]["lr"] == pytest.approx(0.2, rel=1e-6)
    for _ in range(3):
        opt.step(lambda m: loss(m(x), labels), lambda m: loss(m(x), labels))
    assert opt.group_hyperparameters[1]["lr"] == pytest.approx(0.2, rel=1e-6)  # frozen in group 1 only
    assert opt.group_hyperparameters[0]["lr"] != pytest.approx(0.01, rel=1e-6)
    with pytest.raises(ValueError, match="group must be an index"):
        opt.freeze(group=2)
    opt.freeze()
    assert opt.method is None and not opt.needs_closures


def test_state_dict_with_groups_resumes_bit_identically():
    x, labels = classification()
    loss = nn.functional.cross_entropy

    def run(split_at: int | None) -> list[torch.Tensor]:
        model = Classifier()
        opt = HyperSGD(model, 0.05, 5e-4, 0.9, param_groups=decay_split(model), update_interval=3)
        for s in range(9):
            if s == split_at:
                state, weights = copy.deepcopy(opt.state_dict()), copy.deepcopy(model.state_dict())
                model = Classifier()
                model.load_state_dict(weights)
                opt = HyperSGD(model, 0.05, 5e-4, 0.9, param_groups=decay_split(model), update_interval=3)
                opt.load_state_dict(state)
            opt.step(lambda m: loss(m(x), labels), lambda m: loss(m(x), labels))
        return [*(p.detach() for p in model.parameters()), *opt.raw_tensors(), *opt.buffers]

    assert all(torch.equal(a, b) for a, b in zip(run(None), run(4)))
    model = Classifier()
    one_group = HyperSGD(model, 0.05, 5e-4, 0.9).state_dict()
    two = HyperSGD(model, 0.05, 5e-4, 0.9, param_groups=decay_split(model))
    with pytest.raises(ValueError, match="1 param groups, this optimiser has 2"):
        two.load_state_dict(one_group)


def test_add_param_group_with_its_own_settings():
    model = Classifier()
    model.head.requires_grad_(False)
    opt = HyperSGD(model, 0.05, 5e-4, 0.9, update_interval=2)
    x, labels = classification()
    loss = nn.functional.cross_entropy
    opt.step(lambda m: loss(m(x), labels))
    model.head.requires_grad_(True)
    opt.add_param_group({"params": model.head.parameters(), "lr": 0.01, "tune": ("lr",)})
    for _ in range(3):
        result = opt.step(lambda m: loss(m(x), labels), lambda m: loss(m(x), labels))
    head = opt.group_hyperparameters[1]
    assert head["lr"] != 0.01 and head["weight_decay"] == 5e-4 and head["momentum"] == 0.9
    assert "lr/1" in result.hypergradient and "momentum/1" not in result.hypergradient
    assert opt.hyper_groups[1].adam is not None and opt.hyper_groups[1].adam.steps == 2


@pytest.mark.parametrize(
    ("groups", "match"),
    [
        (lambda m: [{"params": [m.head.weight]}], "leave trainable parameters out"),
        (lambda m: [{"params": list(m.parameters())}, {"params": [m.head.bias]}], "more than one group"),
        (lambda m: [{"params": [*m.parameters(), nn.Parameter(torch.ones(1))]}], "not a trainable parameter"),
        (lambda m: [{"params": list(m.parameters()), "nesterov": True}], "unknown keys"),
        (
            lambda m: [{"params": list(m.parameters()), "weight_decay": 0.0, "tune": ("weight_decay",)}],
            "cannot leave 0",
        ),
        (lambda m: [{"params": list(m.parameters()), "lr": -1.0}], r"param_groups\[0\]: lr must be"),
        (lambda m: [{"params": []}], "no parameters"),
        (lambda m: {"params": list(m.parameters())}, "list of dicts"),
    ],
)
def test_bad_param_groups_are_refused_at_construction(groups, match):
    model = Classifier()
    with pytest.raises((ValueError, TypeError), match=match):
        HyperSGD(model, 0.05, 5e-4, 0.9, param_groups=groups(model))

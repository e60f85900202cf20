"""HyperSGD under PyTorch Lightning's manual optimisation (issue 19, section 3; optional extra).

Lightning drives the loop; the LightningModule takes the plain steps the ordinary way
(``manual_backward``, ``opt.step()``) and gives the closures on the steps that are differentiated.
The weights and hyperparameters must be those of the same loop written without Lightning.
Skipped when Lightning is not installed (``pip install .[lightning]``).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from onepass import HyperSGD

L = pytest.importorskip("lightning", reason="lightning is not installed (optional extra: pip install .[lightning])")

SETTINGS = {"lr": 0.01, "weight_decay": 1e-4, "momentum": 0.5, "update_interval": 4, "lookback": 3}


def data(seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(96, 5, generator=g)
    return TensorDataset(x, x.sin().sum(1, keepdim=True))


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))


class Regressor(L.LightningModule):
    """The example: manual optimisation, closures only where ``needs_closures`` says so."""

    def __init__(self, validation: TensorDataset) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.net = net()
        self.xv, self.yv = validation[:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        opt = self.optimizers()
        mse = nn.functional.mse_loss
        if opt.optimizer.needs_closures:
            result = opt.step(train_loss=lambda m: mse(m(x), y), val_loss=lambda m: mse(m(self.xv), self.yv))
            loss = result.loss
        else:
            opt.zero_grad()
            loss = mse(self(x), y)
            self.manual_backward(loss)
            opt.step()
        self.log("lr", opt.param_groups[0]["lr"])
        return loss

    def configure_optimizers(self):
        return HyperSGD(self, **SETTINGS)


def test_lightning_manual_optimisation_matches_the_plain_loop():
    train, validation = data(0), data(1)
    module = Regressor(validation)
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, DataLoader(train, batch_size=16))
    opt = trainer.optimizers[0]
    assert trainer.global_step == 12 and opt.hyperparameter_steps == 3
    assert opt.hyperparameters["lr"] != SETTINGS["lr"]  # tuned

    model = net()  # the same loop without Lightning
    reference = HyperSGD(model, **SETTINGS)
    xv, yv = validation[:]
    mse = nn.functional.mse_loss
    for _ in range(2):
        for x, y in DataLoader(train, batch_size=16):
            reference.step(lambda m, x=x, y=y: mse(m(x), y), lambda m: mse(m(xv), yv))
    for p, q in zip(module.net.parameters(), model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    assert opt.hyperparameters == pytest.approx(reference.hyperparameters, rel=1e-6)


def test_a_closure_that_computes_the_loss_next_to_train_loss_is_refused():
    model = net()
    opt = HyperSGD(model, **SETTINGS)
    x, y = data(0)[:]
    with pytest.raises(ValueError, match="not both"):
        opt.step(lambda m: nn.functional.mse_loss(m(x), y), closure=lambda: nn.functional.mse_loss(model(x), y))

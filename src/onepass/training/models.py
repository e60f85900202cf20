"""The paper's models and their tasks: an MLP, a 2-layer LSTM language model, torchvision's
ResNet-18, and the losses and evaluation metrics per task (regression, classification, language
modelling).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .data import Split
from .run_config import ModelConfig


class MLP(nn.Module):
    """Fully connected ReLU network (UCI: in-50-1, Fashion-MNIST: 784-50-10).

    The BatchNorm variant follows the paper's Fashion-MNIST ablation: the hidden linear layer drops
    its bias (BatchNorm's shift replaces it) and BatchNorm sits before the ReLU.
    """

    def __init__(self, in_features: int, hidden_sizes: list[int], out_features: int, batch_norm: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden_sizes:
            layers.append(nn.Linear(width, size, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(nn.ReLU())
            width = size
        layers.append(nn.Linear(width, out_features))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class LSTMLanguageModel(nn.Module):
    """Embedding -> multi-layer LSTM -> linear decoder, time-major ``(seq, batch)`` inputs.

    cuDNN's LSTM kernels have no double backward, and the one-pass hypergradient needs
    Hessian-vector products through the update, so the forward pass disables cuDNN locally.
    """

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int, num_layers: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.lstm = nn.LSTM(embedding_size, hidden_size, num_layers)
        self.decoder = nn.Linear(hidden_size, vocab_size)

    def forward(
        self, tokens: torch.Tensor, hidden: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        with torch.backends.cudnn.flags(enabled=False):
            output, hidden = self.lstm(self.embedding(tokens), hidden)
        return self.decoder(output), hidden


def build_model(spec: ModelConfig, in_features: int, out_features: int) -> nn.Module:
    """Instantiate the model ``spec`` names (initialised from torch's global RNG)."""
    if spec.type == "mlp":
        return MLP(in_features, list(spec.hidden_sizes), out_features, spec.batch_norm)
    if spec.type == "lstm":
        return LSTMLanguageModel(
            spec.vocab_size or out_features,
            spec.embedding_size or 650,
            spec.hidden_size or 650,
            spec.num_layers or 2,
        )
    if spec.type == "resnet18":
        from torchvision.models import resnet18

        return resnet18(num_classes=out_features)
    raise ValueError(f"model.type: unknown model {spec.type!r}")


# ------------------------------------------------------------------ tasks: losses and metrics
Hidden = Any  # an LSTM (h, c) pair or None


def detach_hidden(hidden: Hidden) -> Hidden:
    """Cut the graph at a batch boundary (truncated backpropagation through time)."""
    if hidden is None:
        return None
    return tuple(h.detach() for h in hidden)


class Task:
    """Computes a batch loss and full-split metrics; tags follow docs/CONTRACTS.md "Chunk outputs"."""

    def __init__(self, kind: str, target_std: float = 1.0, bptt: int | None = None) -> None:
        self.kind = kind
        self.target_variance = target_std**2
        self.bptt = bptt

    def loss(self, model: nn.Module, batch: Split, hidden: Hidden = None) -> tuple[torch.Tensor, Hidden]:
        """Mean loss of ``batch``; for language models also the new (undetached) hidden state."""
        if self.kind == "regression":
            return F.mse_loss(model(batch.inputs), batch.targets), None
        if self.kind == "classification":
            return F.cross_entropy(model(batch.inputs), batch.targets), None
        logits, new_hidden = model(batch.inputs, hidden)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.targets.reshape(-1)), new_hidden

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: Split) -> dict[str, float]:
        """Metrics on a whole split (the test set every logged step, as in the paper).

        Language models are evaluated in BPTT windows with the hidden state carried from zero, and
        the reported loss is the mean of the per-window losses.
        """
        if self.kind == "language_model":
            total, count, hidden = 0.0, 0, None
            step = self.bptt or split.inputs.shape[0]
            for start in range(0, split.inputs.shape[0], step):
                window = Split(split.inputs[start : start + step], split.targets[start : start + step])
                loss, hidden = self.loss(model, window, hidden)
                total += float(loss)
                count += 1
            return self.metrics(total / max(count, 1))
        if self.kind == "regression":
            return self.metrics(float(F.mse_loss(model(split.inputs), split.targets)))
        logits = model(split.inputs)
        loss = float(F.cross_entropy(logits, split.targets))
        accuracy = float((logits.argmax(dim=1) == split.targets).float().mean())
        return self.metrics(loss, accuracy)

    def metrics(self, loss: float, accuracy: float | None = None) -> dict[str, float]:
        """Loss plus the task's reported metric, keyed by tag suffix (``Loss``, ``Accuracy``...)."""
        out = {"Loss": loss}
        if self.kind == "regression":
            # (pred*s+m - (y*s+m))^2 = s^2 (pred-y)^2: the MSE in original target units.
            out["Unnormalised_Loss"] = loss * self.target_variance
        elif self.kind == "classification" and accuracy is not None:
            out["Accuracy"] = accuracy
        elif self.kind == "language_model":
            out["Perplexity"] = math.exp(loss) if loss < 700 else math.inf
        return out

"""The paper's models: an MLP, a 2-layer LSTM language model and torchvision's ResNet-18."""

from __future__ import annotations

import torch
from torch import nn

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

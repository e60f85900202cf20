"""HyperSGD's parameter swap (its lighter functional_call) must reach every place weights are read."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call

from onepass.hypersgd.slots import _ParameterSlots
from onepass.training.models import LSTMLanguageModel


def _perturbed(params: list[torch.Tensor]) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [p.detach() + 0.1 * torch.randn(p.shape, generator=g) for p in params]


def test_lstm_reads_the_swapped_weights_and_gets_its_own_back():
    """nn.LSTM caches flat weight lists; the swap must not leave it computing with stale ones."""
    torch.manual_seed(0)
    model = LSTMLanguageModel(vocab_size=11, embedding_size=6, hidden_size=5, num_layers=2)
    tokens = torch.randint(0, 11, (4, 3))
    params = list(model.parameters())
    weights = _perturbed(params)
    expected = functional_call(model, dict(zip([n for n, _ in model.named_parameters()], weights)), (tokens,))[0]
    original = model(tokens)[0]
    with _ParameterSlots(model, params).holding(weights):
        swapped = model(tokens)[0]
    torch.testing.assert_close(swapped, expected, rtol=0, atol=0)
    assert not torch.allclose(swapped, original)
    torch.testing.assert_close(model(tokens)[0], original, rtol=0, atol=0)  # restored


def test_tied_weights_are_swapped_in_every_module_that_holds_them():
    encoder = nn.Embedding(7, 4)
    decoder = nn.Linear(4, 7, bias=False)
    decoder.weight = encoder.weight  # weight tying, as in many language models
    model = nn.Sequential(encoder, decoder)
    params = list(model.parameters())
    assert len(params) == 1
    tokens = torch.tensor([0, 3, 6])
    (weights,) = _perturbed(params)
    reference = copy.deepcopy(model)
    with torch.no_grad():
        reference[0].weight.copy_(weights)
    assert reference[1].weight is reference[0].weight
    with _ParameterSlots(model, params).holding([weights]):
        swapped = model(tokens)
    torch.testing.assert_close(swapped, reference(tokens), rtol=0, atol=0)

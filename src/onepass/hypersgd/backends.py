"""Kernels that can be differentiated twice, switched on for the differentiated steps only.

The Neumann and exact methods differentiate the training gradient again (Hessian-vector products,
backpropagation through unrolled updates). PyTorch's fused attention kernels (flash, memory-efficient,
cuDNN; used by ``F.scaled_dot_product_attention``, ``nn.MultiheadAttention`` and
``nn.TransformerEncoderLayer``) and cuDNN's RNNs have no double backward. Inside
:func:`twice_differentiable` a forward pass picks the math attention backend and the native RNN
instead; the plain steps, which are most steps, keep the fast kernels.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel


@contextmanager
def twice_differentiable() -> Iterator[None]:
    """Within the block, attention uses the math backend and RNNs do not use cuDNN."""
    cudnn_enabled = torch.backends.cudnn.enabled  # only this flag: benchmark/deterministic stay as set
    with sdpa_kernel(SDPBackend.MATH):
        torch.backends.cudnn.enabled = False
        try:
            yield
        finally:
            torch.backends.cudnn.enabled = cudnn_enabled

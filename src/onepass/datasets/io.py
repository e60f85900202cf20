"""Atomic writes of the preprocessed outputs.

A preprocessed ``.pt`` file must either be complete or absent: a half-written tensor file left by a
crash would be picked up by Snakemake (or a user) as a valid output. So all outputs of a dataset are
written with :func:`onepass.io_utils.write_all_atomically`: all of them appear, or none does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..io_utils import atomic_path, write_all_atomically

__all__ = ["atomic_path", "load_tensor", "save_tensors", "write_all_atomically"]

if TYPE_CHECKING:  # torch is imported lazily: fetching raw files must not pay for importing it
    import torch


def _own_storage(tensor: torch.Tensor) -> torch.Tensor:
    """A contiguous tensor owning exactly its own storage.

    ``torch.save`` stores a view's *whole* underlying storage (the authors' UCI files each held the
    full matrix for this reason); the contract requires each file to hold just its tensor.
    """
    tensor = tensor.contiguous()
    if tensor.untyped_storage().nbytes() != tensor.numel() * tensor.element_size() or (tensor.storage_offset() != 0):
        tensor = tensor.clone()
    return tensor


def save_tensors(tensors: Mapping[str | os.PathLike, torch.Tensor], texts: Mapping | None = None) -> None:
    """Save each tensor with ``torch.save`` (and each text file), all-or-nothing.

    ``texts`` optionally maps further destinations to str content (e.g. a vocabulary file).
    """
    import torch

    writers: dict[str | os.PathLike, Callable[[Path], None]] = {}
    for dest, tensor in tensors.items():
        owned = _own_storage(tensor)
        writers[dest] = lambda tmp, t=owned: torch.save(t, tmp)
    for dest, text in (texts or {}).items():
        writers[dest] = lambda tmp, s=text: Path(tmp).write_text(s, encoding="utf-8")
    write_all_atomically(writers)


def load_tensor(path: str | os.PathLike) -> torch.Tensor:
    """Load a tensor saved by :func:`save_tensors` (``weights_only=True``: no arbitrary unpickling)."""
    import torch

    return torch.load(path, weights_only=True)

"""CIFAR-10 from ``cifar-10-python.tar.gz`` (the pickled "python version" of the batches).

Each batch is a pickled dict (written by Python 2) with ``b"data"``, a uint8 numpy array of shape
``(10000, 3072)`` (each row: 1024 red, 1024 green, 1024 blue values of a 32x32 image, row-major),
and ``b"labels"``, a list of ints 0..9. The tensor holds ``data_batch_1`` .. ``data_batch_5`` then
``test_batch``, images as ``(N, 3, 32, 32)`` uint8.

Why a restricted unpickler: ``pickle.load`` runs whatever callables the pickle names, so loading
an archive from the network (or a mirror) with it would let a tampered file execute code, even
before any checksum-independent sanity check could run. :class:`RestrictedUnpickler` resolves
only the handful of globals the CIFAR format needs to rebuild numpy arrays and refuses
everything else, with an error naming the file and the refused global.
"""

from __future__ import annotations

import io
import os
import pickle
from typing import Any

import numpy as np
import torch

from .archives import read_members
from .errors import FormatError

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"


def _reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct as fn  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct as fn
    return fn


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that only resolves the globals needed to rebuild numpy arrays (see module doc)."""

    def __init__(self, file, *, source: str) -> None:
        super().__init__(file, encoding="bytes")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{self._source}: refusing to load global {module}.{name} (not part of the CIFAR-10 format)"
            ) from None


def load_batch(payload: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images (n, 3, 32, 32) uint8, labels (n,) int64)`` from one pickled batch."""
    try:
        batch = RestrictedUnpickler(io.BytesIO(payload), source=source).load()
    except pickle.UnpicklingError as exc:
        refused = str(exc).startswith(source)  # our find_class refusal already names the file
        message = str(exc) if refused else f"{source}: not a readable CIFAR-10 batch ({exc})"
        raise FormatError(message) from exc
    except Exception as exc:  # truncated/corrupt pickles raise EOFError, ValueError, ...
        raise FormatError(f"{source}: not a readable CIFAR-10 batch ({type(exc).__name__}: {exc})") from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise FormatError(f"{source}: expected a dict with b'data' and b'labels'")
    data, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise FormatError(f"{source}: b'data' must be a uint8 array of shape (n, 3072), got {shape}")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise FormatError(f"{source}: b'labels' is not a list of integers ({exc})") from exc
    if labels.shape != (len(data),):
        raise FormatError(f"{source}: {len(data)} images but {labels.size} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise FormatError(f"{source}: labels outside 0..9")
    return data.reshape(len(data), 3, 32, 32), labels


def build_cifar10(
    archive: str | os.PathLike,
    *,
    train_rows: int | None = None,
    test_rows: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(data, targets)``: uint8 ``(N, 3, 32, 32)`` and int64 ``(N,)``, the five train batches then test."""
    names = [f"{FOLDER}/{b}" for b in (*TRAIN_BATCHES, TEST_BATCH)]
    members = read_members(archive, names)
    images, labels = [], []
    for name in names:
        x, y = load_batch(members[name], f"{os.fspath(archive)}:{name}")
        images.append(x)
        labels.append(y)
    n_train = sum(len(x) for x in images[:-1])
    if train_rows is not None and n_train != train_rows:
        raise FormatError(f"{os.fspath(archive)}: {n_train} training images, expected {train_rows}")
    if test_rows is not None and len(images[-1]) != test_rows:
        raise FormatError(f"{os.fspath(archive)}: {len(images[-1])} test images, expected {test_rows}")
    data = torch.from_numpy(np.ascontiguousarray(np.concatenate(images)))
    targets = torch.from_numpy(np.concatenate(labels))
    return data, targets

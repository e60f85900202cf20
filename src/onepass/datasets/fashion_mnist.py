"""Fashion-MNIST from its four gzip-compressed idx files.

The idx format: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions,
then each dimension as a big-endian uint32, then the values. Images are ``(N, 28, 28)`` and are
flattened to 784 columns; labels are ``(N,)``. Train rows come first, then test rows, as in the
paper's tensor. The payload size is checked exactly, so a truncated or padded file is an error
naming the file rather than a silently short dataset.
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np
import torch

from .errors import FormatError

UBYTE = 0x08


def read_idx_gz(path: str | os.PathLike, ndim: int) -> np.ndarray:
    """A uint8 array of ``ndim`` dimensions from a gzip-compressed idx file."""
    name = os.fspath(path)
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise FormatError(f"{name}: truncated or corrupt gzip data ({exc})") from exc
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise FormatError(f"{name}: too short for an idx header ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != UBYTE or raw[3] != ndim:
        raise FormatError(
            f"{name}: bad idx magic {raw[:4].hex()} (expected 0000{UBYTE:02x}{ndim:02x}: "
            f"unsigned bytes, {ndim} dimensions)"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        raise FormatError(
            f"{name}: {len(raw) - header} data bytes, but the header {shape} needs {expected} "
            f"(truncated or corrupt file)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _split(images_path, labels_path, rows: int | None) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx_gz(images_path, 3)
    labels = read_idx_gz(labels_path, 1)
    if images.shape[1:] != (28, 28):
        raise FormatError(f"{os.fspath(images_path)}: images are {images.shape[1:]}, expected (28, 28)")
    if len(images) != len(labels):
        raise FormatError(
            f"{os.fspath(images_path)} has {len(images)} images but {os.fspath(labels_path)} has {len(labels)} labels"
        )
    if rows is not None and len(images) != rows:
        raise FormatError(f"{os.fspath(images_path)}: {len(images)} images, expected {rows}")
    if labels.size and labels.max() > 9:
        raise FormatError(f"{os.fspath(labels_path)}: label {int(labels.max())} outside 0..9")
    return images.reshape(len(images), 28 * 28), labels


def build_fashion_mnist(
    train_images: str | os.PathLike,
    train_labels: str | os.PathLike,
    test_images: str | os.PathLike,
    test_labels: str | os.PathLike,
    *,
    train_rows: int | None = None,
    test_rows: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(data, targets)``: uint8 ``(N, 784)`` and int64 ``(N,)``, train rows then test rows."""
    x_train, y_train = _split(train_images, train_labels, train_rows)
    x_test, y_test = _split(test_images, test_labels, test_rows)
    data = torch.from_numpy(np.concatenate([x_train, x_test]))
    targets = torch.from_numpy(np.concatenate([y_train, y_test]).astype(np.int64))
    return data, targets

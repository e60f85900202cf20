"""One way to read a torch file: `weights_only=True`, finite numbers, and a one-line refusal.

Every tensor file the training reads (data.pt, targets.pt, --init-weights, chunk checkpoints)
comes through here, so none is ever unpickled into arbitrary objects, and a refusal is one line
naming the file, never torch's multi-line text (which suggests loading with `weights_only=False`,
exactly what must not be done with a file of unknown origin).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch


class UnsafeFileError(ValueError):
    """A torch file that cannot be read safely: missing, corrupt, or holding objects."""


def safe_torch_load(path: str | Path, what: str, shown: str | None = None) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU, with errors as one line.

    ``what`` is the expected content ("a tensor saved with torch.save"), ``shown`` how the message
    names the file (default: the path). Torch's warnings about pickle protocols are silenced: the
    outcome (loaded or refused) is what the user needs, on one line.
    """
    shown = shown or str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UnsafeFileError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise UnsafeFileError(f"{shown}: is a folder, not {what}") from None
    except Exception as error:  # empty, truncated, not a torch file, or objects weights_only refuses
        if "Weights only load failed" in str(error):
            reason = "it holds pickled objects other than tensors, refused without unpickling them"
        else:
            reason = f"unreadable: {_first_line(error)}"
        raise UnsafeFileError(f"{shown}: not {what} ({reason})") from None


def _first_line(error: Exception) -> str:
    """The first line of an error's text, short, without torch's advice on unsafe loading."""
    line = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
    return type(error).__name__ if "weights_only" in line else line


def non_finite_count(tensor: torch.Tensor) -> int:
    """How many NaN or infinite values a floating tensor holds (0 for integer tensors)."""
    if not tensor.is_floating_point():
        return 0
    return int((~torch.isfinite(tensor)).sum())

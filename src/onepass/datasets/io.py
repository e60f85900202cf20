"""Atomic writes of the preprocessed outputs.

A preprocessed ``.pt`` file must either be complete or absent: a half-written tensor file left by a
crash would be picked up by Snakemake (or a user) as a valid output. So every output is first written
to a temporary file in the *same* directory (same filesystem, so the rename is atomic) and moved into
place with :func:`os.replace` only once all outputs of a dataset were written successfully.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported lazily: fetching raw files must not pay for importing it
    import torch


def _temp_path(dest: Path) -> Path:
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    return Path(name)


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it to ``dest`` only if the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(dest)
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        _remove_quietly(tmp)


def write_all_atomically(writers: Mapping[str | os.PathLike, Callable[[Path], None]]) -> list[Path]:
    """Write several files so that either all of them appear or none does.

    ``writers`` maps each destination to a function writing the content to a given (temporary)
    path. All temporary files are written first; only then are they renamed into place. If anything
    fails, the temporary files and any destination already renamed in this call are removed.
    """
    staged: list[tuple[Path, Path]] = []
    done: list[Path] = []
    try:
        for dest, write in writers.items():
            dest = Path(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = _temp_path(dest)
            staged.append((tmp, dest))
            write(tmp)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        for tmp, dest in staged:
            os.replace(tmp, dest)
            done.append(dest)
    except BaseException:
        for path in done:
            _remove_quietly(path)
        raise
    finally:
        for tmp, _ in staged:
            _remove_quietly(tmp)
    return done


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

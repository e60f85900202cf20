"""Atomic file writes: a crash, a kill or a full disk never leaves a file that looks complete.

Every output of the package (chunk tables and summaries, checkpoints, preprocessed tensors, figures,
tables) is written here: to a temporary name in the destination folder, then moved into place with
``os.replace`` (atomic on POSIX), so Snakemake and users only ever see whole files. Files that belong
together (a chunk's parquet and its JSON, a dataset's tensors) appear all together or not at all.

Temporary files are created private (``mkstemp`` makes them 0600); before the rename they get the
mode any ordinary new file would have under the process umask, so a group sharing a results folder
on a cluster can read them, as it can read everything else the pipeline writes.

:func:`jsonable` is the one converter of summaries to standard JSON (NaN/inf -> null, numpy scalars ->
Python numbers) before they are written.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any


class OutputError(OSError):
    """An output cannot be written (unwritable folder, disk full); the message names the path."""


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def umask_mode() -> int:
    """The mode ``open()`` gives a new file under the current umask (0644 under umask 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _temp_path(dest: Path) -> Path:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as error:
        raise OutputError(f"{dest}: cannot create output here ({error.strerror or error})") from None
    return Path(name)


def _finish(temp: Path) -> None:
    """Flush ``temp`` to disk and give it the umask's mode, ready to be renamed into place."""
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    os.chmod(temp, umask_mode())


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it to ``dest`` only if the block succeeds."""
    target = Path(dest)
    temp = _temp_path(target)
    try:
        yield temp
        _finish(temp)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def write_all_atomically(writers: Mapping[str | os.PathLike, Callable[[Path], None]]) -> list[Path]:
    """Write several files so that either all of them appear or none of them does.

    ``writers`` maps each destination to a function writing its content to a given (temporary)
    path. All temporary files are written first, then renamed in order. If anything fails, the
    temporary files and every destination already renamed in this call are removed, and an
    :class:`OutputError` (for I/O failures) says so, naming the file that failed.
    """
    staged: list[tuple[Path, Path]] = []
    done: list[Path] = []
    current = None
    try:
        for dest, write in writers.items():
            current = Path(dest)
            temp = _temp_path(current)
            staged.append((temp, current))
            write(temp)
            _finish(temp)
        for temp, dest in staged:
            current = dest
            os.replace(temp, dest)
            done.append(dest)
    except OSError as error:
        removed = [str(path) for path in done if _remove(path)]
        also = f"; removed {', '.join(removed)} so no incomplete set remains" if removed else ""
        raise OutputError(f"{current}: writing failed ({error.strerror or error}){also}") from None
    except BaseException:
        for path in done:
            _remove(path)
        raise
    finally:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
    return done


def _remove(path: Path) -> bool:
    try:
        path.unlink()
    except OSError:
        return False
    return True


def remove_stale_temps(dest: str | os.PathLike) -> list[Path]:
    """Remove temporary files of ``dest`` left by a write that was killed midway (SIGKILL, power
    loss): ``.<name>.*.tmp`` beside it. Call only where no other process writes ``dest``."""
    target = Path(dest)
    removed = []
    for temp in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        if temp.is_file() and _remove(temp):
            removed.append(temp)
    return removed


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Call ``write(temp_path)`` and then rename the temporary file to ``path``."""
    write_all_atomically({path: write})


def write_json(payload: Any) -> Callable[[Path], None]:
    """A writer (for :func:`atomic_write` / :func:`write_all_atomically`) of indented JSON."""

    def write(temp: Path) -> None:
        with open(temp, "w") as handle:
            json.dump(payload, handle, indent=1, allow_nan=True)
            handle.write("\n")

    return write


def atomic_write_json(path: str | os.PathLike, payload: Any) -> None:
    atomic_write(path, write_json(payload))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda temp: temp.write_text(text, encoding="utf-8"))


def jsonable(value: Any) -> Any:
    """``value`` ready for standard JSON: NaN/inf -> null, numpy scalars -> Python numbers.

    Dictionaries (keys -> ``str``), lists and tuples (-> lists) are converted recursively; anything
    else is returned as it is. numpy is imported here, so this module stays importable without it.
    """
    import numpy as np

    return _jsonable(value, np)


def _jsonable(value: Any, np: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v, np) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, np) for v in value]
    return value

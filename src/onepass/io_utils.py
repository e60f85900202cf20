"""Atomic file writes: a crash or a kill never leaves a file that looks complete.

Outputs are written to a temporary name in the destination folder and moved into place with
``os.replace`` (atomic on POSIX), so Snakemake and users only ever see whole files.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


class OutputError(OSError):
    """An output cannot be written (unwritable folder, disk full); the message names the path."""


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temp_path)`` and then rename the temporary file to ``path``."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as error:
        raise OutputError(f"{target}: cannot create output here ({error.strerror or error})") from None
    temp = Path(temp_name)
    try:
        write(temp)
        os.replace(temp, target)
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise OutputError(f"{target}: writing failed ({error.strerror or error}); nothing was left behind") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, payload: Any) -> None:
    def write(temp: Path) -> None:
        with open(temp, "w") as handle:
            json.dump(payload, handle, indent=1, allow_nan=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())

    atomic_write(path, write)

"""Chunk checkpoints: survive SLURM time limits and preemption without losing more than minutes.

A chunk (several seeds of one algorithm) checkpoints every ``every_seconds`` and, whether or not
periodic checkpoints are on, when a stop signal arrives: SLURM's warnings (SIGTERM before a kill or
requeue, SIGUSR1 when the job asks for ``--signal``) or Ctrl-C (SIGINT; a second Ctrl-C aborts at
once without saving). The checkpoint holds the finished seeds' results and the running seed's complete
state; it is written atomically next to the chunk's outputs, loaded with ``weights_only=True``
(no arbitrary pickles), and removed when the chunk completes. Running the same command again
resumes: the result is bit-identical on CPU to an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..io_utils import OutputError, atomic_write, remove_stale_temps
from .checkpoint_format import MalformedCheckpoint, check_checkpoint
from .run import RunResult, TrainingRun
from .safe_load import UnsafeFileError, safe_torch_load

FORMAT_VERSION = 1
EXIT_PREEMPTED = 75  # EX_TEMPFAIL: "try again"; Snakemake's retries then resume from the checkpoint


class Preempted(Exception):
    """Raised after a checkpoint was written because a stop signal arrived."""

    def __init__(self, path: Path, signal_name: str) -> None:
        super().__init__(f"{signal_name} received: state saved to {path}; run the same command again to resume")
        self.path = path
        self.signal_name = signal_name

    @property
    def exit_status(self) -> int:
        """130 after Ctrl-C, as shells expect; otherwise EX_TEMPFAIL, which asks for a rerun."""
        return 128 + signal.SIGINT if self.signal_name == "SIGINT" else EXIT_PREEMPTED


def fingerprint(payload: dict[str, Any]) -> str:
    """A hash of what determines the results, so a checkpoint is never resumed into another job."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def frame_to_state(frame: pd.DataFrame) -> dict[str, Any]:
    tags = frame["tag"].astype("category")
    return {
        "seed": torch.from_numpy(frame["seed"].to_numpy(np.int32).copy()),
        "step": torch.from_numpy(frame["step"].to_numpy(np.int32).copy()),
        "tag_codes": torch.from_numpy(tags.cat.codes.to_numpy(np.int32).copy()),
        "tag_names": [str(t) for t in tags.cat.categories],
        "value": torch.from_numpy(frame["value"].to_numpy(np.float64).copy()),
        "wall_time": torch.from_numpy(frame["wall_time"].to_numpy(np.float64).copy()),
    }


def state_to_frame(state: dict[str, Any]) -> pd.DataFrame:
    names = np.asarray(state["tag_names"], dtype=object)
    codes = state["tag_codes"].numpy()
    return pd.DataFrame(
        {
            "seed": state["seed"].numpy(),
            "step": state["step"].numpy(),
            "tag": names[codes] if len(codes) else np.asarray([], dtype=object),
            "value": state["value"].numpy(),
            "wall_time": state["wall_time"].numpy(),
        }
    )


def _torch_save(payload: dict[str, Any], temp: Path) -> None:
    """torch.save, whose C++ writer reports a full disk as RuntimeError: made an OSError, so the
    atomic write turns it into the usual one-line OutputError and removes the partial file."""
    try:
        torch.save(payload, temp)
    except RuntimeError as error:
        detail = (str(error).strip().splitlines() or ["RuntimeError"])[0][:120]
        raise OSError(f"torch.save failed ({detail}); is the disk full?") from None


class ChunkCheckpointer:
    """Decides when to checkpoint, writes and reads the checkpoint file, handles stop signals.

    ``key`` identifies the job (algorithm, seeds, settings); ``inputs`` maps each input file's role
    to its sha256 (data.pt, targets.pt, --init-weights), so a checkpoint is never resumed on data or
    weights that changed since it was written; ``seeds`` are the job's seeds, against which a
    checkpoint's structure is checked before it is trusted.
    """

    SIGNALS = ("SIGTERM", "SIGUSR1", "SIGINT")

    def __init__(
        self,
        path: str | Path,
        key: str,
        every_seconds: float = 300.0,
        inputs: dict[str, str] | None = None,
        seeds: Sequence[int] = (),
    ) -> None:
        self.path = Path(path)
        self.key = key
        self.inputs = dict(inputs or {})
        self.seeds = list(seeds)
        self.every_seconds = every_seconds
        self.last_save = time.monotonic()
        self.requested: str | None = None
        self.completed: list[RunResult] = []
        self.failed_saves = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> ChunkCheckpointer:
        for name in self.SIGNALS:
            number = getattr(signal, name)
            self._previous[number] = signal.signal(number, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _on_signal(self, number: int, frame: object) -> None:
        # Only set a flag: the state is consistent at window boundaries, where it is checked.
        name = signal.Signals(number).name
        if name == "SIGINT" and self.requested == "SIGINT":
            raise KeyboardInterrupt  # a second Ctrl-C: the user does not want to wait
        self.requested = self.requested or name
        os.write(2, f"\n{name} received: saving a checkpoint at the end of this hyperparameter window\n".encode())

    def load(self) -> tuple[list[RunResult], dict[str, Any] | None]:
        """Finished results and the running seed's state from an existing checkpoint (or nothing).

        Temporary files of a checkpoint write that was killed midway are removed first. A
        checkpoint of another job, or one that is malformed, is refused; one made from other
        input files is set aside (the chunk restarts, saying so), since resuming it would mix
        two datasets or two initialisations in one chunk.
        """
        remove_stale_temps(self.path)
        if not self.path.exists():
            return [], None
        try:
            state = safe_torch_load(self.path, "a chunk checkpoint")
        except UnsafeFileError as error:
            raise ValueError(f"unreadable checkpoint: {error}; delete it to start the chunk afresh") from None
        if isinstance(state, dict) and (state.get("format") != FORMAT_VERSION or state.get("key") != self.key):
            raise ValueError(
                f"{self.path}: checkpoint belongs to a different job (other algorithm, seeds or settings); "
                "delete it to start afresh"
            )
        try:
            check_checkpoint(state, self.seeds)
        except MalformedCheckpoint as error:
            raise ValueError(f"{self.path}: malformed checkpoint ({error}); delete it to start afresh") from None
        changed = sorted(role for role in set(self.inputs) | set(state.get("inputs", {}))
                         if state.get("inputs", {}).get(role) != self.inputs.get(role))  # fmt: skip
        if changed:
            print(
                f"warning: {self.path}: {', '.join(changed)} changed since this checkpoint was written; "
                "starting the chunk afresh instead of resuming",
                file=sys.stderr,
            )
            return [], None
        completed = [RunResult(**item["summary"], frame=state_to_frame(item["frame"])) for item in state["completed"]]
        self.completed = list(completed)
        return completed, state["current"]

    def save(self, run: TrainingRun | None) -> None:
        payload = {
            "format": FORMAT_VERSION,
            "key": self.key,
            "inputs": self.inputs,
            "completed": [{"summary": r.summary(), "frame": frame_to_state(r.frame)} for r in self.completed],
            "current": None if run is None else run.state_dict(),
        }
        atomic_write(self.path, partial(_torch_save, payload))
        self.last_save = time.monotonic()

    def after_window(self, run: TrainingRun) -> None:
        """Called at every window boundary: checkpoint when due, stop when a signal asked for it."""
        if self.requested is not None:
            self.save(run)
            raise Preempted(self.path, self.requested)
        if time.monotonic() - self.last_save >= self.every_seconds:
            self._periodic_save(run)

    def _periodic_save(self, run: TrainingRun) -> None:
        """A periodic checkpoint is insurance, not output: if it cannot be written (disk full),
        say so and keep training; the chunk's outputs are still written atomically at the end."""
        try:
            self.save(run)
        except OutputError as error:
            self.last_save = time.monotonic()  # try again one interval later, not at every window
            self.failed_saves += 1
            if self.failed_saves == 1:  # once: a full disk stays full, the log need not fill up too
                print(
                    f"warning: checkpoint not saved, training goes on (later failures are not reported): {error}",
                    file=sys.stderr,
                )

    def finished_seed(self, result: RunResult) -> None:
        self.completed.append(result)
        if self.requested is not None:
            self.save(None)
            raise Preempted(self.path, self.requested)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

"""The per-run scalar log: cheap appends while training, one long table at the end.

Appending Python floats to lists costs well under a microsecond, so every-step logging does not
slow training; the long ``(seed, step, tag, value, wall_time)`` table is built once per run.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .columns import CHUNK_COLUMNS, CHUNK_TYPES


class ScalarLog:
    """Scalars of one run, grouped by tag."""

    def __init__(self) -> None:
        self.steps: dict[str, list[int]] = defaultdict(list)
        self.values: dict[str, list[float]] = defaultdict(list)
        self.times: dict[str, list[float]] = defaultdict(list)

    def add(self, tag: str, step: int, value: float, wall_time: float) -> None:
        self.steps[tag].append(step)
        self.values[tag].append(value)
        self.times[tag].append(wall_time)

    def add_many(self, step: int, values: dict[str, float], wall_time: float) -> None:
        for tag, value in values.items():
            self.add(tag, step, value, wall_time)

    def last(self, tag: str) -> float | None:
        values = self.values.get(tag)
        return values[-1] if values else None

    def last_finite(self) -> dict[str, float]:
        """The last finite value of every tag (what a diverged run reports)."""
        out = {}
        for tag, values in self.values.items():
            for value in reversed(values):
                if math.isfinite(value):
                    out[tag] = value
                    break
        return out

    def state_dict(self) -> dict[str, dict[str, torch.Tensor]]:
        """Tensors per tag (float64 keeps every logged value exactly)."""
        return {
            tag: {
                "steps": torch.tensor(self.steps[tag], dtype=torch.int64),
                "values": torch.tensor(self.values[tag], dtype=torch.float64),
                "times": torch.tensor(self.times[tag], dtype=torch.float64),
            }
            for tag in self.steps
        }

    def load_state_dict(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        self.steps.clear()
        self.values.clear()
        self.times.clear()
        for tag, columns in state.items():
            self.steps[tag] = columns["steps"].tolist()
            self.values[tag] = columns["values"].tolist()
            self.times[tag] = columns["times"].tolist()

    def to_frame(self, seed: int) -> pd.DataFrame:
        frames = []
        for tag in self.steps:
            n = len(self.steps[tag])
            frames.append(
                pd.DataFrame(
                    {
                        "seed": np.full(n, seed, dtype=np.int32),
                        "step": np.asarray(self.steps[tag], dtype=np.int32),
                        "tag": tag,
                        "value": np.asarray(self.values[tag], dtype=np.float64),
                        "wall_time": np.asarray(self.times[tag], dtype=np.float64),
                    }
                )
            )
        return pd.concat(frames, ignore_index=True) if frames else empty_frame()


class TensorBoardSink:
    """Streams a :class:`ScalarLog` into TensorBoard event files while the run goes on.

    The trainer calls :meth:`flush` every few seconds (and at the end), so long GPU runs can be
    watched live with ``tensorboard --logdir``. All tags of one step go into one event (TensorBoard
    reads multi-value summaries as separate scalar series), which makes writing about ten times
    cheaper than one event per scalar, as ``SummaryWriter.add_scalar`` does.
    """

    def __init__(self, folder: str | Path) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.writer = EventFileWriter(str(folder))
        self.cursor: dict[str, int] = defaultdict(int)

    def flush(self, log: ScalarLog) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        by_step: dict[int, tuple[float, list]] = {}
        for tag in log.steps:
            start = self.cursor[tag]
            steps, values, times = log.steps[tag], log.values[tag], log.times[tag]
            for i in range(start, len(steps)):
                entry = by_step.setdefault(steps[i] if not tag.startswith("Last_") else -1 - steps[i], (times[i], []))
                entry[1].append(Summary.Value(tag=tag, simple_value=values[i]))
            self.cursor[tag] = len(steps)
        for key in sorted(by_step, key=lambda k: (k < 0, abs(k))):
            wall, values = by_step[key]
            step = key if key >= 0 else -1 - key
            self.writer.add_event(Event(wall_time=wall, step=step, summary=Summary(value=values)))
        self.writer.flush()

    def skip_logged(self, log: ScalarLog) -> None:
        """After a resume: events up to the checkpoint were written by the interrupted process."""
        for tag, steps in log.steps.items():
            self.cursor[tag] = len(steps)

    def close(self, log: ScalarLog) -> None:
        self.flush(log)
        self.writer.close()


def empty_frame() -> pd.DataFrame:
    """A chunk table without rows, with the columns and types of `columns.CHUNK_TYPES`."""
    dtypes = {"int32": np.int32, "float64": np.float64, "string": str}
    return pd.DataFrame({name: pd.Series(dtype=dtypes[CHUNK_TYPES[name]]) for name in CHUNK_COLUMNS})

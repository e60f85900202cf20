"""What one run leaves behind: its summary (an entry of the chunk JSON) and its scalars."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class RunResult:
    """Summary and scalars of one run (one entry of the chunk JSON, rows of the chunk parquet)."""

    seed: int
    status: str
    diverged_at_step: int | None
    reason: str | None
    initial_hyperparameters: dict[str, float]
    final: dict[str, float]
    final_full_validation_loss: float | None
    train_seconds: float
    wall_seconds: float
    peak_memory_mb: float
    steps_completed: int
    frame: pd.DataFrame = field(repr=False)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "frame"}


def finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None

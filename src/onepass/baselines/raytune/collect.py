"""Ray's results of one search -> one table of every report and one summary per trial."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

HYPER_COLUMNS = ("lr", "weight_decay", "momentum")
#: Columns of a search's ``OUT.parquet``: one row per report of every trial.
ROW_COLUMNS = [
    "trial",
    "trial_id",
    "wall_time",
    "timestamp",
    "iteration",
    "training_iteration",
    "validation_loss",
    "test_loss",
    "unnormalised_test_loss",
    "lr",
    "weight_decay",
    "momentum",
    "restored_from",
]


def collect(grid: Any, max_steps: int) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Every report of every trial (one table) and a summary per trial, in trial-id order."""
    results = sorted(grid, key=lambda r: str(r.metrics.get("trial_id", "")) if r.metrics else "")
    frames, trials = [], []
    for index, result in enumerate(results):
        frame = trial_rows(result, index)
        frames.append(frame)
        trials.append(trial_summary(result, index, frame, max_steps))
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ROW_COLUMNS)
    rows = rows.astype(
        {
            "trial": "int32",
            "iteration": "int32",
            "training_iteration": "int64",
            "wall_time": "float64",
            "timestamp": "float64",
            "validation_loss": "float64",
            "test_loss": "float64",
            "unnormalised_test_loss": "float64",
        }
    )
    return rows, trials


def trial_rows(result: Any, index: int) -> pd.DataFrame:
    """One trial's reports as ``ROW_COLUMNS``, in time order."""
    frame = result.metrics_dataframe
    if frame is None or frame.empty or "weight_steps" not in frame.columns:
        frame = pd.DataFrame(columns=[c for c in ROW_COLUMNS if c != "trial"])
    frame = frame.rename(columns={"weight_steps": "iteration"})
    for column in ROW_COLUMNS:
        if column not in frame.columns:
            frame[column] = np.nan if column != "restored_from" else ""
    frame["trial"] = index
    frame["trial_id"] = str((result.metrics or {}).get("trial_id", index))
    frame["restored_from"] = frame["restored_from"].fillna("").astype(str)
    # time order: after a PBT exploit the trial repeats step counts from the donor's checkpoint
    return frame[ROW_COLUMNS].sort_values(["wall_time", "iteration"], kind="stable")


def trial_summary(result: Any, index: int, frame: pd.DataFrame, max_steps: int) -> dict[str, Any]:
    """Config, last report, whether it trained the full ``max_steps``, donors, error."""
    last = frame.iloc[-1] if len(frame) else None
    reached = last is not None and float(last["iteration"]) >= max_steps
    return {
        "trial": index,
        "trial_id": frame["trial_id"].iloc[0] if len(frame) else str(index),
        "config": {k: v for k, v in (result.config or {}).items()},
        "iterations": None if last is None else int(last["iteration"]),
        "reached_max_steps": bool(reached),
        "final": None
        if last is None
        else {k: float(last[k]) for k in ("validation_loss", "test_loss", "unnormalised_test_loss", *HYPER_COLUMNS)},
        "restored_from": sorted({r for r in frame["restored_from"] if r}),
        "error": None if result.error is None else str(result.error).splitlines()[0][:500],
    }

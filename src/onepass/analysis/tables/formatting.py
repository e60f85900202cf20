"""Number formatting and bold rules of the tables (the paper's rounding)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _decimals_for_error(err: float) -> int:
    """Decimal places that round ``err`` to one significant figure (negative = tens, ...)."""
    d = -math.floor(math.log10(abs(err)))
    if abs(round(err, d)) >= 10.0 ** (1 - d):  # 0.096 -> 0.1 moves up a decade
        d -= 1
    return d


def format_value_error(value: float, err: float) -> tuple[str, str]:
    """Error to 1 significant figure, value to the same decimal place; integers if err ≥ 1.

    A NaN (or infinite) value or error gives ``---`` for both (as the authors' tables); a zero error
    (a single run) shows the value to 3 significant figures and the error as ``0``.
    """
    if not (np.isfinite(value) and np.isfinite(err)):
        return "---", "---"
    if err == 0:
        return format_best(value), "0"
    d = _decimals_for_error(err)
    if d <= 0:
        return str(int(round(value, d))), str(int(round(err, d)))
    return f"{round(value, d):.{d}f}", f"{round(err, d):.{d}f}"


def format_best(value: float) -> str:
    """Three significant figures without scientific notation (``---`` if not finite)."""
    if not np.isfinite(value):
        return "---"
    if value == 0:
        return "0"
    d = 2 - math.floor(math.log10(abs(value)))
    if d <= 0:
        return str(int(round(value, d)))
    return f"{round(value, d):.{d}f}"


def bold_flags(values: np.ndarray, errors: np.ndarray | None) -> np.ndarray:
    """Bold rule: every value ≤ (column minimum + the minimum's error); with no errors, = minimum."""
    v = np.asarray(values, dtype=float)
    flags = np.zeros(v.shape, dtype=bool)
    finite = np.isfinite(v)
    if not finite.any():
        return flags
    k = int(np.nanargmin(np.where(finite, v, np.nan)))
    limit = v[k]
    if errors is not None and np.isfinite(errors[k]):
        limit = v[k] + float(errors[k])
    flags[finite] = v[finite] <= limit
    return flags


def add_text_columns(stats: pd.DataFrame) -> None:
    """Add the formatted ``*_text`` columns (mean ± err, median ± err, best) to a table's statistics."""
    texts = [format_value_error(m, e) for m, e in zip(stats["mean"], stats["mean_err"], strict=True)]
    stats["mean_text"], stats["mean_err_text"] = [t[0] for t in texts], [t[1] for t in texts]
    texts = [format_value_error(m, e) for m, e in zip(stats["median"], stats["median_err"], strict=True)]
    stats["median_text"], stats["median_err_text"] = [t[0] for t in texts], [t[1] for t in texts]
    stats["best_text"] = [format_best(b) for b in stats["best"]]

"""Compare a run of `config/test.yaml` with the committed reference outputs (tests/reference/).

The reference was produced once by the code before a restructuring, so this comparison shows that
the restructured code computes the same things: the same files, columns, rows, text and NaNs, and
every number to a relative 1e-5. Only what measures time is left out (wall-clock columns, peak
memory, and the figures whose x axis is wall time).

Why not bit for bit: the training runs in float32, and PyTorch picks its CPU kernels by instruction
set (AVX2, AVX-512, ...), whose sums round differently. On a machine of another kind than the one
that made the reference, the same code gives numbers a few float32 ulps apart: up to 6e-7 relative
on an AVX-512 machine against this reference (2026-12-07). Any change of what is computed (one step,
one hyperparameter, one seed, a different order of batches) moves them by orders of magnitude more.
Bit-identical reruns on one machine are checked elsewhere (tests/test_checkpoint_resume.py,
tests/test_training.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

REFERENCE = Path(__file__).resolve().parent / "reference" / "test_config"
#: Columns that measure the machine, not the computation.
TIMING_COLUMNS = {"wall_time", "train_seconds", "wall_seconds", "peak_memory_mb", "suggest_seconds"}
#: Figures drawn against wall time (their sidecars hold times).
TIMED_FIGURES = {"HPOCurves_uci_energy"}


def reference_files(results: Path) -> list[Path]:
    """The outputs compared, relative to ``results/``: scalars, figure sidecars, table CSVs."""
    files = sorted(results.glob("scalars/*.parquet")) + sorted(results.glob("scalars/*_final.csv"))
    files += [p for p in sorted(results.glob("figures/*.csv")) if p.stem not in TIMED_FIGURES]
    files += sorted(results.glob("tables/*.csv"))
    return [p.relative_to(results) for p in files]


def save_reference(results: Path, reference: Path = REFERENCE) -> None:
    """Copy the compared outputs of ``results/`` into the reference folder (run once, by hand)."""
    for relative in reference_files(results):
        (reference / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(results / relative, reference / relative)


def _read(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    frame = frame.drop(columns=[c for c in frame.columns if c in TIMING_COLUMNS])
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(str)
    return frame


def compare(results: Path, reference: Path = REFERENCE) -> list[str]:
    """Differences between ``results/`` and the reference, one line each (empty: identical)."""
    problems = []
    expected = [p.relative_to(reference) for p in sorted(reference.rglob("*")) if p.is_file()]
    produced = reference_files(results)
    if sorted(expected) != sorted(produced):
        problems.append(f"files differ: only reference {sorted(set(expected) - set(produced))}, "
                        f"only new {sorted(set(produced) - set(expected))}")  # fmt: skip
    for relative in sorted(set(expected) & set(produced)):
        differences = frame_differences(_read(reference / relative), _read(results / relative), rtol=FLOAT32_RTOL)
        problems += [f"{relative}: {difference}" for difference in differences]
    return problems


#: Relative tolerance of trained numbers across CPU kinds (see the module docstring).
FLOAT32_RTOL = 1e-5


def frame_differences(want: pd.DataFrame, got: pd.DataFrame, rtol: float = 1e-9) -> list[str]:
    """What differs between two tables: shape, or each column (numbers to ``rtol``, text exactly)."""
    if list(want.columns) != list(got.columns) or len(want) != len(got):
        return [f"columns/rows {list(got.columns)} x {len(got)}, expected {list(want.columns)} x {len(want)}"]
    problems = []
    for column in want.columns:
        a, b = want[column], got[column]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            x, y = a.to_numpy(float), b.to_numpy(float)
            same = np.allclose(x, y, rtol=rtol, atol=1e-12, equal_nan=True)
        else:
            same = a.astype(str).tolist() == b.astype(str).tolist()
        if not same:
            problems.append(f"column {column!r} differs")
    return problems

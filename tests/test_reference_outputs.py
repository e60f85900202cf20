"""The reference comparison (tests/reference_outputs.py) tolerates float32 rounding, nothing more."""

from __future__ import annotations

import pandas as pd
from reference_outputs import FLOAT32_RTOL, REFERENCE, frame_differences


def _reference_scalars() -> pd.DataFrame:
    return pd.read_parquet(REFERENCE / "scalars" / "uci_energy.parquet").drop(columns=["wall_time"])


def test_a_few_float32_ulps_pass():
    want = _reference_scalars()
    got = want.copy()
    got["value"] = got["value"] * (1 + 6e-7)  # what another CPU kind gives (module docstring)
    assert frame_differences(want, got, rtol=FLOAT32_RTOL) == []


def test_a_changed_number_a_changed_row_or_a_changed_text_fail():
    want = _reference_scalars()
    nudged = want.copy()
    row = nudged.index[nudged["value"].abs() > 0.1][10]
    nudged.loc[row, "value"] *= 1 + 1e-4  # one value off by 0.01 %
    assert frame_differences(want, nudged, rtol=FLOAT32_RTOL) == ["column 'value' differs"]
    assert frame_differences(want, want.iloc[:-1], rtol=FLOAT32_RTOL)  # a row missing
    renamed = want.copy()
    renamed["tag"] = renamed["tag"].astype(str).str.replace("Loss/Test", "Loss/Tset")
    assert frame_differences(want, renamed, rtol=FLOAT32_RTOL) == ["column 'tag' differs"]

"""The shipped reproduction (docs/reproduction/) is what the code computes from the shipped data.

The tables, the CDF and the run-time figure are rebuilt from the committed per-run final values
with today's code and compared with the committed statistics (to 1e-9) and text, so a change to
the analysis that would alter the published numbers fails here rather than silently leaving the
README out of date. Tiny: no training, a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from reference_outputs import frame_differences

from onepass.analysis.figures import build_figure
from onepass.analysis.tables import build_table
from onepass.pipeline.reproduction import FINAL_ONLY_KINDS, markdown_table, read_table_stats

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "reproduction"
CONFIG = yaml.safe_load((REPO / "config" / "reproduction.yaml").read_text())
EXPERIMENTS = CONFIG["experiments"]


def finals(experiments: list[str]) -> dict[str, list[str]]:
    return {"final": [str(DOCS / f"{e}_final.csv") for e in experiments]}


def assert_same_statistics(rebuilt: pd.DataFrame, shipped: pd.DataFrame, what: str) -> None:
    assert frame_differences(shipped, rebuilt, exact=False) == [], what


def test_the_manifest_names_the_run():
    manifest = (DOCS / "manifest.json").read_text()
    for key in ('"commit"', '"command"', '"wall_seconds"', '"packages"', '"machine"'):
        assert key in manifest


@pytest.mark.parametrize("name", sorted(CONFIG["tables"]))
def test_shipped_table_is_rebuilt_from_the_shipped_final_values(name, tmp_path):
    spec = dict(CONFIG["tables"][name])
    rebuilt = build_table(spec["kind"], name, spec, finals(spec["experiments"]), tmp_path / "t.tex",
                          tmp_path / "t.csv", experiments_config=EXPERIMENTS)  # fmt: skip
    shipped = read_table_stats(DOCS / f"{name}.csv")
    assert_same_statistics(read_table_stats(tmp_path / "t.csv"), shipped, name)
    assert (tmp_path / "t.tex").read_text() == (DOCS / f"{name}.tex").read_text()
    assert (DOCS / f"{name}.md").read_text() == markdown_table(shipped)
    assert len(rebuilt) == len(shipped)


@pytest.mark.parametrize(
    "name", sorted(n for n, spec in CONFIG["figures"].items() if spec["kind"] in FINAL_ONLY_KINDS)
)
def test_shipped_figure_data_is_rebuilt_from_the_shipped_final_values(name, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    spec = dict(CONFIG["figures"][name])
    build_figure(spec["kind"], name, spec, finals(spec["experiments"]), tmp_path / "f.png", tmp_path / "f.csv",
                 experiments_config=EXPERIMENTS)  # fmt: skip
    # the run times of a Runtime figure are data here (the shipped train_seconds), not measured again
    assert_same_statistics(pd.read_csv(tmp_path / "f.csv"), pd.read_csv(DOCS / f"{name}.csv"), name)
    assert (DOCS / f"{name}.png").stat().st_size > 10_000

"""The shipped reproduction (docs/reproduction/) is what the code computes from the shipped data.

Every reproduction config that has been run and shipped (config/reproduction*.yaml with its
manifest in docs/reproduction/) is checked:

- its tables are rebuilt from the committed per-run final values with today's code and compared
  with the committed statistics (to 1e-9) and text;
- every figure whose inputs ship (final values; the hypergradient table; the proof of concept's 50
  trajectories) is rebuilt and its data compared with the shipped CSV;
- the per-step figures (Envelope, HPOCurves, LR) read ~100 MB of logged curves per dataset, which
  do not ship: their CSVs are checked to end exactly where the shipped final values are.

So a change to the analysis that would alter the published numbers fails here rather than
silently leaving the README out of date. The paper comparison is regenerated and compared too,
and the status table must name every figure and table of config/paper.yaml. Tiny: no training.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from reference_outputs import frame_differences

from onepass.analysis import paper_comparison
from onepass.analysis.figures import build_figure
from onepass.analysis.loading import read_table_stats
from onepass.analysis.tables import build_table
from onepass.pipeline.reproduction import FINAL_ONLY_KINDS, markdown_table, planner_for

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "reproduction"
PAPER = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
#: Figure kinds rebuilt whole from shipped files; the rest are checked against the final values.
REBUILT_KINDS = (*FINAL_ONLY_KINDS, "Sensitivity", "Hypergradients", "ProofOfConcept")


def manifest_of(config: Path) -> Path:
    suffix = config.stem.removeprefix("reproduction")
    return DOCS / f"manifest{suffix}.json"


CONFIGS = sorted((REPO / "config").glob("reproduction*.yaml"))
SHIPPED = {path.stem: yaml.safe_load(path.read_text()) for path in CONFIGS if manifest_of(path).is_file()}
TABLES = [(c, n) for c, config in SHIPPED.items() for n in sorted(config.get("tables") or {})]
FIGURES = [(c, n) for c, config in SHIPPED.items() for n in sorted(config.get("figures") or {})]


def shipped_inputs(config: dict, name: str, section: str, tmp_path: Path) -> dict[str, list[str]]:
    """The figure/table rule's inputs, pointed at the shipped copies (grid cells split back out)."""
    planner = planner_for(config)
    spec = config[section][name]
    if section == "tables":
        experiments = planner.expand(spec["experiments"])
        return {"final": [_final_file(config, e, tmp_path) for e in experiments]}
    inputs = planner.figure_inputs(name)
    out: dict[str, list[str]] = {}
    for key, files in inputs.items():
        if key == "final":
            out[key] = [_final_file(config, Path(f).name.removesuffix("_final.csv"), tmp_path) for f in files]
        elif key == "hypergradients":
            out[key] = [str(DOCS / Path(f).name) for f in files]
        elif key == "scalars":
            out[key] = [str(DOCS / f"{e}_scalars.parquet") for e in spec["experiments"]]
        else:
            out[key] = []
    return out


def _final_file(config: dict, experiment: str, tmp_path: Path) -> str:
    """A shipped ``<e>_final.csv``, or the rows of one grid cell of its parent's shipped file."""
    direct = DOCS / f"{experiment}_final.csv"
    if direct.is_file():
        return str(direct)
    parent = next(e for e in config["experiments"] if experiment.startswith(f"{e}_"))
    rows = pd.read_csv(DOCS / f"{parent}_final.csv")
    path = tmp_path / f"{experiment}_final.csv"
    rows[rows["experiment"] == experiment].to_csv(path, index=False)
    return str(path)


def assert_same_statistics(rebuilt: pd.DataFrame, shipped: pd.DataFrame, what: str) -> None:
    assert frame_differences(shipped, rebuilt) == [], what


def test_some_reproductions_ship_and_every_manifest_names_its_run():
    assert "reproduction" in SHIPPED
    for stem in SHIPPED:
        manifest = json.loads(manifest_of(REPO / "config" / f"{stem}.yaml").read_text())
        for key in ("commit", "command", "wall_seconds", "packages", "machine"):
            assert manifest.get(key) is not None, (stem, key)
        assert manifest["config"] == f"config/{stem}.yaml"


def test_a_manifest_counts_every_run_it_ships_under_the_processor_that_made_it():
    """``run_processors`` (manifests rendered since it exists) covers exactly the shipped runs."""
    counted = 0
    for stem, config in SHIPPED.items():
        manifest = json.loads(manifest_of(REPO / "config" / f"{stem}.yaml").read_text())
        if "run_processors" not in manifest:
            continue
        trained = [name for name, entry in config["experiments"].items() if entry.get("kind", "train") == "train"]
        shipped_runs = sum(len(pd.read_csv(DOCS / f"{name}_final.csv")) for name in trained)
        assert sum(manifest["run_processors"].values()) == shipped_runs, stem
        counted += 1
    assert counted >= 1  # UCI Kin8nm's manifest was rendered with it


@pytest.mark.parametrize("stem, name", TABLES)
def test_shipped_table_is_rebuilt_from_the_shipped_final_values(stem, name, tmp_path):
    config = SHIPPED[stem]
    spec = dict(config["tables"][name])
    inputs = shipped_inputs(config, name, "tables", tmp_path)
    rebuilt = build_table(spec["kind"], name, spec, inputs, tmp_path / "t.tex", tmp_path / "t.csv",
                          experiments_config=config["experiments"])  # fmt: skip
    shipped = read_table_stats(DOCS / f"{name}.csv")
    assert_same_statistics(read_table_stats(tmp_path / "t.csv"), shipped, name)
    assert (tmp_path / "t.tex").read_text() == (DOCS / f"{name}.tex").read_text()
    assert (DOCS / f"{name}.md").read_text() == markdown_table(shipped)
    assert len(rebuilt) == len(shipped)


@pytest.mark.parametrize("stem, name", FIGURES)
def test_shipped_figure_data_is_rebuilt_or_ends_at_the_shipped_final_values(stem, name, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    config = SHIPPED[stem]
    spec = dict(config["figures"][name])
    shipped = pd.read_csv(DOCS / f"{name}.csv")
    assert (DOCS / f"{name}.png").stat().st_size > 10_000
    if spec["kind"] not in REBUILT_KINDS:
        ends_at_the_final_values(spec, shipped, stem)
        return
    inputs = shipped_inputs(config, name, "figures", tmp_path)
    build_figure(spec["kind"], name, spec, inputs, tmp_path / "f.png", tmp_path / "f.csv",
                 experiments_config=config["experiments"], cells=planner_for(config).figure_cells(name))  # fmt: skip
    # the run times of a Runtime figure are data here (the shipped train_seconds), not measured again
    assert_same_statistics(pd.read_csv(tmp_path / "f.csv"), shipped, name)


def ends_at_the_final_values(spec: dict, shipped: pd.DataFrame, stem: str) -> None:
    """A per-step figure's last point is a statistic of the shipped final values."""
    (experiment,) = spec["experiments"]
    final = pd.read_csv(DOCS / f"{experiment}_final.csv")
    metric = read_table_stats(DOCS / f"AverageResults_{experiment}.csv")["metric"].iloc[0]
    checked = 0
    for algorithm, runs in final.groupby("algorithm"):
        curve = shipped[shipped["algorithm"] == algorithm]
        if curve.empty:
            continue
        if spec["kind"] == "Envelope":  # median of the runs that did not diverge, at the last step
            last = curve.loc[curve["step"].idxmax()]
            expected = runs.loc[runs["status"] != "diverged", metric].median()
            assert last["median"] == pytest.approx(expected, rel=1e-12), (stem, algorithm)
        elif spec["kind"] == "HPOCurves":  # median best-so-far over every run (a diverged one: inf)
            last = curve.loc[curve["time_s"].idxmax()]
            best = runs[f"best:{metric}"].astype(float).replace(np.nan, math.inf)
            assert last["median"] == pytest.approx(float(best.median()), rel=1e-12), (stem, algorithm)
        elif spec["kind"] == "LR":  # the sample run's learning rate after its last window
            last = curve.loc[curve["step"].idxmax()]
            run = runs[runs["seed"] == spec["seed"]].iloc[0]
            if run["status"] == "diverged":
                continue
            assert last["lr"] == pytest.approx(float(run["Hyperparameter/Lr"]), rel=1e-12), (stem, algorithm)
        else:
            raise AssertionError(f"{spec['kind']}: no check of a per-step figure of this kind")
        checked += 1
    assert checked >= 8, (stem, spec)


def test_paper_comparison_is_current(tmp_path):
    md, csv = paper_comparison.write(DOCS / "paper_table1.yaml", DOCS, tmp_path / "paper_comparison")
    assert md.read_text() == (DOCS / "paper_comparison.md").read_text()
    assert_same_statistics(pd.read_csv(csv), pd.read_csv(DOCS / "paper_comparison.csv"), "paper_comparison")


def test_status_table_names_every_paper_figure_and_table_with_its_command():
    readme = (DOCS / "README.md").read_text()
    rows = {line.split("|")[1].strip().strip("`"): line for line in readme.splitlines() if line.startswith("| `")}
    for section in ("figures", "tables"):
        for name in PAPER[section]:
            assert name in rows, f"docs/reproduction/README.md: no status row for {section} {name}"
            assert "snakemake" in rows[name] or "make reproduction" in rows[name], rows[name]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_reproduction_configs_keep_the_papers_settings(config):
    """Only chunking (and, where labelled, the seed count) may differ from config/paper.yaml."""
    ours = yaml.safe_load(config.read_text())
    for name, entry in ours["experiments"].items():
        reference = PAPER["experiments"].get(name)
        if reference is None:  # a reduced-size pass of its own (uci_<name>_10seeds)
            assert name.endswith("_10seeds") and entry["seeds"] == 10, name
            continue
        differ = {k for k in set(entry) | set(reference) if entry.get(k) != reference.get(k)}
        # fewer seeds only where the line says so: `seeds: 20   # the paper: 100`
        labelled = re.search(rf"seeds: {entry['seeds']}\s+# the paper: {reference['seeds']}\b", config.read_text())
        allowed = {"chunk_size"} | ({"seeds"} if labelled else set())
        assert differ <= allowed, (config.name, name, differ)
    for section in ("figures", "tables"):
        for name, spec in (ours.get(section) or {}).items():
            if name in PAPER[section] and "10seeds" not in name:
                reference = PAPER[section][name]
                differ = {k for k in set(spec) | set(reference) if spec.get(k) != reference.get(k)}
                # presentation only: bold cells, the LR figure's sample run, no BayesOpt curve (not run)
                assert differ <= {"bold", "seed", "bayesopt"}, (config.name, name, differ)


def test_readme_shows_table_1_as_the_comparison_computes_it():
    comparison = paper_comparison.compare(paper_comparison.load_paper(DOCS / "paper_table1.yaml"), DOCS)
    assert paper_comparison.summary_table(comparison) in (REPO / "README.md").read_text()
    assert "docs/reproduction/README.md#reproduction-status" in (REPO / "README.md").read_text()


@pytest.mark.parametrize(
    "printed, expected",
    [("21±2", (21.0, 2.0)), ("6.70±0.06", (6.7, 0.06)), ("0.120", (0.12, None)), (" 1e-3 ", (1e-3, None))],
)
def test_printed_cells_parse(printed, expected):
    assert paper_comparison.parse_printed(printed, "cell") == expected


@pytest.mark.parametrize("printed", ["21 pm 2", "", "±2", "1±"])
def test_a_cell_that_is_not_a_number_names_where_it_is(printed):
    with pytest.raises(paper_comparison.PaperComparisonError, match="datasets.x: .* is not a number"):
        paper_comparison.parse_printed(printed, "datasets.x")


def test_gap_is_the_difference_over_the_combined_standard_error(tmp_path):
    table = read_table_stats(DOCS / "AverageResults_uci_energy.csv")
    table.to_csv(tmp_path / "AverageResults_d.csv", index=False)
    paper = {"datasets": {"d": {"label": "D", "rows": {"Random": {"mean": "20±1.5", "median": "8", "best": "0.1"}}}}}
    rows = paper_comparison.compare(paper, tmp_path).set_index("statistic")
    ours = table.set_index("label").loc["Random"]
    assert rows.at["mean", "difference_in_se"] == pytest.approx((ours["mean"] - 20) / math.hypot(ours["mean_err"], 1.5))
    assert math.isnan(rows.at["median", "difference_in_se"])  # the paper printed no error for it
    assert rows.at["best", "ours"] == ours["best"] and math.isnan(rows.at["best", "combined_se"])


@pytest.mark.parametrize("runs, header", [(200, "| D: paper | ours |"), (120, "| D: paper | ours (120 seeds) |")])
def test_fewer_seeds_than_the_paper_are_said_beside_our_numbers(tmp_path, runs, header):
    table = pd.read_csv(DOCS / "AverageResults_uci_energy.csv")
    table["n_runs"] = np.where(table["label"] == "Random (3-batched)", runs // 3, runs)
    table.to_csv(tmp_path / "AverageResults_d.csv", index=False)
    rows = {"Random": {"mean": "20±1.5", "median": "8", "best": "0.1"}, "Random (3-batched)": {"mean": "4±1"}}
    paper = {"source": "test", "datasets": {"d": {"label": "D", "rows": rows}}}
    comparison = paper_comparison.compare(paper, tmp_path)
    assert header in paper_comparison.summary_table(comparison)
    said = f"Ours over {runs} seeds per algorithm, not the paper's 200" in paper_comparison.markdown(comparison, paper)
    assert said == (runs != 200)

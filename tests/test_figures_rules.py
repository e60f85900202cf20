"""The figure/table rules run under real Snakemake on a small aggregated fixture.

A tiny Snakefile includes only rules/common.smk, rules/figures.smk and rules/tables.smk (with
stand-ins for the Snakefile's plan of the fixture's experiments) so the test does not depend on
training; it builds one
figure for every way the rule wires its inputs (final CSVs; + parquets; + BayesOpt parquets;
a grid expanded to its cells; the hypergradient CSV) and a table, then the HTML report.  Every
figure kind is drawn in-process by test_analysis_figures.py (CDF_Error, Runtime, LR and
ProofOfConcept read the same inputs as CDF/Envelope); each job here costs a Python start-up with
matplotlib, so the list is kept short.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_analysis_fixtures import write_all

REPO = Path(__file__).resolve().parents[1]

SNAKEFILE = """
configfile: "config.yaml"


include: "rules/common.smk"


# What the real Snakefile plans, for the fixture's aggregated experiments (no training here).
CELLS = {f"Sensitivity_T{T}_i{i}": {"update_interval": T, "lookback": i} for T in (1, 2) for i in (1, 2)}
EXPERIMENT_NAMES = {"Sensitivity": [*CELLS, "Sensitivity_Random"]}
PLAN = {name: {"cell": cell} for name, cell in CELLS.items()}
PLANNED = ["uci_energy", "uci_kin8nm", "fashion_mnist", "ProofOfConcept", "BayesOpt_uci_energy"]
AGGREGATES = dict.fromkeys(PLANNED + EXPERIMENT_NAMES["Sensitivity"])


rule all:
    input:
        [f"results/figures/{name}.pdf" for name in config["figures"]],
        [f"results/tables/{name}.{ext}" for name in config["tables"] for ext in ("tex", "csv")],


include: "rules/figures.smk"
include: "rules/tables.smk"
"""

CONFIG = {
    "experiments": {
        "uci_energy": {"dataset": "uci_energy"},
        "uci_kin8nm": {"dataset": "uci_kin8nm"},
        "fashion_mnist": {"dataset": "fashion_mnist"},
        "Sensitivity": {"dataset": "uci_energy"},
        "ProofOfConcept": {"dataset": "uci_energy"},
        "BayesOpt_uci_energy": {"kind": "bayesopt", "dataset": "uci_energy"},
        "HypergradientComparison": {"kind": "hypergradient_comparison", "dataset": "uci_energy"},
    },
    "figures": {
        "CDF_uci_energy": {"kind": "CDF", "experiments": ["uci_energy"]},
        "Envelope_uci_energy": {"kind": "Envelope", "experiments": ["uci_energy"]},
        "HPOCurves_uci_energy": {"kind": "HPOCurves", "experiments": ["uci_energy"]},
        "Sensitivity_Ours_LR_Momentum": {
            "kind": "Sensitivity",
            "experiments": ["Sensitivity"],
            "algorithm": "Ours_LR_Momentum",
        },
        "Hypergradients_Lr": {"kind": "Hypergradients", "experiments": ["HypergradientComparison"]},
    },
    "tables": {
        "AverageResults_UCI": {"kind": "AverageResults", "experiments": ["uci_energy", "uci_kin8nm"]},
    },
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    wd = tmp_path_factory.mktemp("wf")
    (wd / "rules").mkdir()
    for name in ("common.smk", "figures.smk", "tables.smk"):
        shutil.copy(REPO / "rules" / name, wd / "rules" / name)
    shutil.copytree(REPO / "workflow" / "report", wd / "workflow" / "report")
    (wd / "workflow" / "schemas").mkdir()
    shutil.copy(REPO / "workflow" / "schemas" / "figures.schema.yaml", wd / "workflow" / "schemas")
    (wd / "workflow" / "scripts").mkdir(parents=True)
    for name in ("figure.py", "table.py"):
        shutil.copy(REPO / "workflow" / "scripts" / name, wd / "workflow" / "scripts" / name)
    (wd / "Snakefile").write_text(SNAKEFILE)
    (wd / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    write_all(wd)
    return wd


def snakemake(wd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--snakefile", "Snakefile", *args],
        cwd=wd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_every_figure_and_table_is_a_target(workdir):
    targets = [f"results/figures/{n}.pdf" for n in CONFIG["figures"]]
    targets += [f"results/tables/{n}.{ext}" for n in CONFIG["tables"] for ext in ("tex", "csv")]
    done = snakemake(workdir, *targets)
    assert done.returncode == 0, done.stderr[-4000:]
    for name in CONFIG["figures"]:
        pdf = (workdir / "results" / "figures" / f"{name}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF-") and len(pdf) > 2000, name
        assert (workdir / "results" / "figures" / f"{name}.csv").stat().st_size > 0, name
    # the BayesOpt experiment is planned (in AGGREGATES), so it joins the HPO curves
    assert "BayesOpt" in (workdir / "results/figures/HPOCurves_uci_energy.csv").read_text()
    tex = (workdir / "results" / "tables" / "AverageResults_UCI.tex").read_text()
    assert r"\begin{tabular}" in tex and "diverged" in tex.lower()

    report = snakemake(workdir, "--report", "report.html")
    assert report.returncode == 0, report.stderr[-4000:]
    html = (workdir / "report.html").read_text(errors="replace")
    assert "Empirical CDF" in html and "oracle" in html and "Neumann" in html
    assert "System Message" not in html  # no reStructuredText errors in any caption


def test_unknown_figure_name_is_not_a_target(workdir):
    done = snakemake(workdir, "-n", "results/figures/NotConfigured.pdf")
    assert done.returncode != 0
    assert "NotConfigured" in done.stderr + done.stdout


def test_bad_figure_option_fails_at_parse_time_naming_the_entry(workdir, tmp_path):
    bad = {**CONFIG, "figures": {"Sensitivity_X": {"kind": "Sensitivity", "experiments": ["Sensitivity"]}}}
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(bad))
    done = snakemake(workdir, "-n", "--configfile", str(cfg))
    assert done.returncode != 0
    output = done.stderr + done.stdout
    assert "Sensitivity_X" in output and "algorithm" in output

# rules/figures.smk: every configured figure is its own target results/figures/<Name>.pdf,
# with the statistics it plots in results/figures/<Name>.csv.
#
# config `figures:` entries: <Name>: {kind: <Kind>, experiments: [...], <options>}; the option
# keys per kind are in workflow/schemas/figures.schema.yaml (checked below, when the workflow is
# parsed). Figures read only the aggregated scalars (results/scalars/<exp>.parquet and
# <exp>_final.csv); the hypergradient comparison has its own rule below. The input wiring is
# ANALYSIS, an onepass.analysis.targets.Planner (unit tested) over common.smk's experiment_names /
# experiment_cell and the Snakefile's AGGREGATES (the experiments whose scalars a job makes): it
# plans from the config alone, never from the files on disk.
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

try:
    validate(
        {"figures": config.get("figures") or {}, "tables": config.get("tables") or {}},
        "../workflow/schemas/figures.schema.yaml",
        set_default=False,
    )
except WorkflowError as error:
    sys.exit(schema_error_message(error))  # one line naming the entry, as the Snakefile's checks

ANALYSIS = Planner(
    config, experiment_names=experiment_names, experiment_cell=experiment_cell, planned=AGGREGATES.__contains__
)


localrules:
    figure,


rule figure:
    """One configured figure: PDF plus a CSV sidecar of every plotted statistic."""
    input:
        unpack(lambda wildcards: ANALYSIS.figure_inputs(wildcards.name)),
    output:
        pdf=report(
            "results/figures/{name}.pdf",
            caption="../workflow/report/figure.rst",
            category="Figures",
            subcategory=lambda wildcards: ANALYSIS.figure_spec(wildcards.name)["kind"],
            labels=lambda wildcards, output: ANALYSIS.figure_labels(wildcards.name, output.csv),
        ),
        csv="results/figures/{name}.csv",
    params:
        kind=lambda wildcards: ANALYSIS.figure_spec(wildcards.name)["kind"],
        options=lambda wildcards: dict(ANALYSIS.figure_spec(wildcards.name)),
        experiments_config=lambda wildcards: ANALYSIS.experiments_config_of("figures", wildcards.name),
        cells=lambda wildcards: ANALYSIS.figure_cells(wildcards.name),
        caption=lambda wildcards: figure_caption(
            wildcards.name,
            ANALYSIS.figure_spec(wildcards.name),
            ANALYSIS.experiments_config_of("figures", wildcards.name),
        ),
    wildcard_constraints:
        name=ANALYSIS.name_pattern("figures"),
    log:
        "logs/figures/{name}.log",
    benchmark:
        "results/benchmarks/figure/{name}.tsv"
    script:
        "../workflow/scripts/figure.py"


rule hypergradient_comparison:
    """Neumann vs exact hypergradients of the first hyperparameter step over (T, i) and seeds."""
    input:
        lambda wildcards: ANALYSIS.hypergradient_data(wildcards.comparison),
    output:
        "results/hypergradients/{comparison}.csv",
    params:
        settings=lambda wildcards: comparison_job(wildcards)["settings"],
    wildcard_constraints:
        comparison=ANALYSIS.hypergradient_pattern(),
    log:
        "logs/hypergradients/{comparison}.log",
    benchmark:
        "results/benchmarks/hypergradient_comparison/{comparison}.tsv"
    threads: lambda wildcards: comparison_job(wildcards)["threads"]
    resources:
        mem_mb=lambda wildcards, attempt: comparison_job(wildcards)["mem_mb"] * attempt,
        runtime=lambda wildcards, attempt: comparison_job(wildcards)["runtime"] * attempt,
    script:
        "../workflow/scripts/hypergradient_comparison.py"

# rules/figures.smk: every configured figure is its own target results/figures/<Name>.pdf,
# with the statistics it plots in results/figures/<Name>.csv.
#
# config `figures:` entries: <Name>: {kind: <Kind>, experiments: [...], <options>}; the option
# keys per kind are in workflow/schemas/figures.schema.yaml (checked below, when the workflow is
# parsed). Figures read only the aggregated scalars (results/scalars/<exp>.parquet and
# <exp>_final.csv); the hypergradient comparison has its own rule below. The input wiring lives
# in onepass.analysis.targets (unit tested); grid experiments expand through common.smk's
# experiment_names/experiment_cell when those exist.
import sys

from snakemake.exceptions import WorkflowError as _AnalysisWorkflowError
from snakemake.utils import validate as _analysis_validate

from onepass.analysis import targets as _analysis_targets
from onepass.analysis.captions import figure_caption as _figure_caption

try:
    _analysis_validate(
        {"figures": config.get("figures") or {}, "tables": config.get("tables") or {}},
        "../workflow/schemas/figures.schema.yaml",
        set_default=False,
    )
except _AnalysisWorkflowError as _error:
    _message = globals().get("schema_error_message")
    sys.exit(_message(_error) if callable(_message) else f"config figures/tables: {_error}")  # one line, as above

ANALYSIS = _analysis_targets.Planner(
    config,
    experiment_names=globals().get("experiment_names"),
    experiment_cell=globals().get("experiment_cell"),
    # `aggregate` matches any name but only builds planned training experiments: it does not count
    producible=lambda path: any(r.name != "aggregate" and r.is_producer(path) for r in workflow.rules),
    planned=lambda experiment: experiment in (globals().get("PLAN") or {}),
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
        caption=lambda wildcards: _figure_caption(
            wildcards.name,
            ANALYSIS.figure_spec(wildcards.name),
            ANALYSIS.experiments_config_of("figures", wildcards.name),
        ),
    wildcard_constraints:
        name=ANALYSIS.name_pattern("figures"),
    log:
        "logs/figures/{name}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/figure.py"


rule hypergradient_comparison:
    """Neumann vs exact hypergradients of the first hyperparameter step over (T, i) and seeds."""
    input:
        lambda wildcards: ANALYSIS.hypergradient_data(wildcards.comparison),
    output:
        "results/hypergradients/{comparison}.csv",
    params:
        settings=lambda wildcards: ANALYSIS.hypergradient_settings(wildcards.comparison),
    wildcard_constraints:
        comparison=ANALYSIS.hypergradient_pattern(),
    log:
        "logs/hypergradients/{comparison}.log",
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/hypergradient_comparison.py"

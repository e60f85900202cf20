# rules/tables.smk: every configured table is its own target results/tables/<Name>.{tex,csv}.
# config `tables:` entries: <Name>: {kind: AverageResults|AverageErrors,
# experiments: [...], <options>}; option keys in workflow/schemas/figures.schema.yaml. Uses ANALYSIS,
# the onepass.analysis.targets.Planner of rules/figures.smk (included first). Declared black-box experiments that this config
# does not run (BayesOpt, Ray: disabled) are left out and named in the table note, whatever is on disk.


localrules:
    table,


rule table:
    """One configured table: LaTeX (booktabs) plus the CSV of every statistic in it."""
    input:
        unpack(lambda wildcards: ANALYSIS.table_inputs(wildcards.name)),
    output:
        tex=report(
            "results/tables/{name}.tex",
            caption="../workflow/report/table.rst",
            category="Tables",
            labels=lambda wildcards, output: ANALYSIS.table_labels(wildcards.name, output.csv),
        ),
        csv=report(
            "results/tables/{name}.csv",
            caption="../workflow/report/table.rst",
            category="Tables",
            subcategory="CSV",
            labels=lambda wildcards, output: ANALYSIS.table_labels(wildcards.name, output.csv),
        ),
    params:
        kind=lambda wildcards: ANALYSIS.table_spec(wildcards.name)["kind"],
        options=lambda wildcards: dict(ANALYSIS.table_spec(wildcards.name)),
        experiments_config=lambda wildcards: ANALYSIS.experiments_config_of("tables", wildcards.name),
        skip=lambda wildcards: ANALYSIS.table_skipped(wildcards.name),
        caption=lambda wildcards: table_caption(
            wildcards.name,
            ANALYSIS.table_spec(wildcards.name),
            ANALYSIS.experiments_config_of("tables", wildcards.name),
        ),
    wildcard_constraints:
        name=ANALYSIS.name_pattern("tables"),
    log:
        "logs/tables/{name}.log",
    benchmark:
        "results/benchmarks/table/{name}.tsv"
    script:
        "../workflow/scripts/table.py"

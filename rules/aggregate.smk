# rules/aggregate.smk: the chunk tables of one (sub-)experiment -> one long table + one final CSV.
#
# Local rule: it reads many small files and finishes in seconds (onepass.aggregate works on Arrow
# tables; no TensorBoard parsing), so it is not worth a cluster job.


localrules:
    aggregate,


def aggregate_inputs(wildcards):
    """Every chunk parquet and JSON of the sub-experiment (a dict look-up in the plan)."""
    if wildcards.experiment not in PLAN:
        raise ValueError(
            f"results/scalars/{wildcards.experiment}.parquet: '{wildcards.experiment}' is not a "
            f"training experiment of this config (known: {', '.join(PLAN) or 'none'})"
        )
    return chunk_outputs(wildcards.experiment)


rule aggregate:
    """Concatenate the runs of one experiment and summarise each run in one CSV row."""
    input:
        aggregate_inputs,
    output:
        parquet="results/scalars/{experiment}.parquet",
        final="results/scalars/{experiment}_final.csv",
    log:
        "logs/aggregate/{experiment}.log",
    benchmark:
        "results/benchmarks/aggregate/{experiment}.tsv"
    params:
        experiment=lambda wildcards: wildcards.experiment,
        algorithm_order=ALGORITHMS,
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/aggregate.py"

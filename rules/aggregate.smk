# rules/aggregate.smk: the chunks of one (sub-)experiment -> one long table + one final CSV.
#
# The one rule writing results/scalars/{experiment}.*: training chunks, BayesOpt repetitions and Ray
# searches alike (AGGREGATES, onepass.pipeline.aggregation, names each experiment's source kind and
# files; onepass.records.aggregate combines them). Local rule: it reads many small files and finishes
# in seconds (Arrow tables; no TensorBoard parsing), so it is not worth a cluster job.


localrules:
    aggregate,


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
    wildcard_constraints:
        experiment=alternation(AGGREGATES),
    params:
        kind=lambda wildcards: aggregate_job(wildcards)["kind"],
        experiment=lambda wildcards: wildcards.experiment,
        algorithm_order=ALGORITHMS,
    script:
        "../workflow/scripts/aggregate.py"

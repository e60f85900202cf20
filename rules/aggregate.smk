# rules/aggregate.smk: the chunk tables of one (sub-)experiment -> one long table + one final CSV.
#
# Local rule: it reads many small files and finishes in seconds (onepass.records.aggregate works on Arrow
# tables; no TensorBoard parsing), so it is not worth a cluster job.


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
        # only training experiments: BayesOpt/Ray aggregates (rules/hpo.smk) share the path pattern
        experiment=TRAINING_EXPERIMENTS_PATTERN,
    params:
        experiment=lambda wildcards: wildcards.experiment,
        algorithm_order=ALGORITHMS,
    conda:
        "../environment.yml"
    script:
        "../workflow/scripts/aggregate.py"

# rules/train.smk: one job per (sub-)experiment x algorithm x chunk of seeds.
#
# The job is the library's CLI (`python -m onepass train`), so a job runs exactly what a user would
# type. The CLI writes its parquet and JSON under temporary names and renames them only when all
# seeds are done; if the job dies anyway, Snakemake deletes whatever outputs exist, so a killed job
# never leaves files that look complete.


rule train:
    """Train one chunk of seeds of one algorithm; logs the CLI's output, benchmarks the job."""
    input:
        unpack(train_inputs),
    output:
        parquet="results/runs/{experiment}/{algorithm}/{chunk}.parquet",
        json="results/runs/{experiment}/{algorithm}/{chunk}.json",
    log:
        "logs/train/{experiment}/{algorithm}/{chunk}.log",
    benchmark:
        "results/benchmarks/train/{experiment}/{algorithm}/{chunk}.tsv"
    params:
        python=PYTHON,
        arguments=train_arguments,
        data_dir=lambda wildcards, input: str(Path(input.data).parent.parent),
    threads: lambda wildcards: train_job(wildcards)[0]["threads"]
    priority: train_priority
    resources:
        gpu=train_resource("gpu"),
        mem_mb=train_resource("mem_mb"),
        runtime=train_resource("runtime"),
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} "
        "{params.python:q} -m onepass train --algorithm {wildcards.algorithm} {params.arguments} "
        "--data-dir {params.data_dir:q} --out {output.parquet:q} > {log:q} 2>&1"

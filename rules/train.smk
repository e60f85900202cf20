# rules/train.smk: one job per (sub-)experiment x algorithm x chunk of seeds.
#
# The job is the library's CLI (`python -m onepass train`), so a job runs exactly what a user would
# type. The CLI writes its parquet and JSON under temporary names and renames them only when all
# seeds are done; if the job dies anyway, Snakemake deletes whatever outputs exist, so a killed job
# never leaves files that look complete.


def train_inputs(wildcards):
    """The preprocessed tensors of the job's dataset (produced by rules/data.smk)."""
    dataset = PLAN[wildcards.experiment]["dataset"] if wildcards.experiment in PLAN else "unknown"
    return {
        "data": f"resources/data/{dataset}/data.pt",
        "targets": f"resources/data/{dataset}/targets.pt",
    }


def train_arguments(wildcards):
    """Seeds, dataset, device, TensorBoard folder and `--set` overrides of one job, shell-ready."""
    job, seeds = train_job(wildcards)
    words = [
        f"--dataset-config {PLAN[wildcards.experiment]['dataset']}",
        f"--seeds {seeds}",
        f"--device {config['device']}",
        f"--experiment {wildcards.experiment}",
    ]
    if config["tensorboard"]:
        words.append(f"--tensorboard-dir results/tensorboard/{wildcards.experiment}/{wildcards.algorithm}")
    if job["sets"]:
        words.append(job["sets"])
    return " ".join(words)


def train_resource(name):
    """A resource callable reading the planned value (gpu, mem_mb or runtime) of the job."""

    def resource(wildcards, attempt):
        value = train_job(wildcards)[0][name]
        # a retried job (`--retries`) gets proportionally more time and memory
        return value * attempt if name in ("mem_mb", "runtime") else value

    return resource


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
    resources:
        gpu=train_resource("gpu"),
        mem_mb=train_resource("mem_mb"),
        runtime=train_resource("runtime"),
    conda:
        "../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} "
        "{params.python:q} -m onepass train --algorithm {wildcards.algorithm} {params.arguments} "
        "--data-dir {params.data_dir:q} --out {output.parquet:q} > {log:q} 2>&1"

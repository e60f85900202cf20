# rules/common.smk: the Snakemake side of the experiment plan shared by every rule file.
#
# The planning itself (config checks, grid expansion, seed chunks, job arguments) is plain Python
# in onepass.pipeline, unit tested without Snakemake; this file keeps what needs Snakemake's
# `config` and `workflow` objects: paths beside the Snakefile, and the rules' input functions and
# resources, which are dict look-ups in the plan computed once by the Snakefile.
from pathlib import Path

from onepass.training.algorithms import ALGORITHMS as _ALGORITHM_REGISTRY
from onepass.pipeline.catalog import load_catalog
from onepass.pipeline.checks import check_config, load_schema, schema_error_message
from onepass.pipeline.configfiles import check_config_files
from onepass.pipeline.errors import ConfigError
from onepass.pipeline.jobs import alternation, chunk_runtime, default_python
from onepass.pipeline.plan import build_plan
from onepass.pipeline.plan import chunk_outputs as _chunk_outputs

# Exact names from docs/CONTRACTS.md, in canonical order (the order figures and tables use).
ALGORITHMS = list(_ALGORITHM_REGISTRY)

PYTHON = config.get("python") or default_python()


def workflow_path(path):
    """A config path as given if it exists from the working directory, else beside the Snakefile.

    Lets `snakemake -s <repo>/Snakefile --directory <elsewhere>` (as the tests do) find the
    catalog shipped in the repository without a --config override.
    """
    candidate = Path(path)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    return Path(workflow.basedir) / candidate


# ---- helpers for the rule files (figures.smk and tables.smk use experiment_names/experiment_cell) --


def experiment_names(experiment):
    """Sub-experiments of a grid experiment (Sensitivity -> Sensitivity_T1_i1, ...), else [experiment]."""
    return EXPERIMENT_NAMES.get(experiment, [experiment])


def experiment_cell(sub_experiment):
    """The grid values of a sub-experiment ({} for a plain experiment), e.g. for heatmap axes."""
    return PLAN[sub_experiment]["cell"] if sub_experiment in PLAN else {}


def chunk_outputs(sub_experiment):
    """Every training output (parquet and json) of one sub-experiment, in canonical order."""
    return _chunk_outputs(PLAN, sub_experiment)


def train_job(wildcards):
    """The plan entry of one training job (raises a clear error for a path outside the plan)."""
    try:
        job = PLAN[wildcards.experiment]["algorithms"][wildcards.algorithm]
        seeds = job["chunks"][wildcards.chunk]
    except KeyError:
        raise ValueError(
            f"results/runs/{wildcards.experiment}/{wildcards.algorithm}/{wildcards.chunk} "
            "is not part of the configured experiments"
        ) from None
    return job, seeds


# ---- input functions and parameters of rules/train.smk and rules/aggregate.smk ----------------


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
        job, seeds = train_job(wildcards)
        value = chunk_runtime(job, seeds) if name == "runtime" else job[name]
        # a retried job (`--retries`) gets proportionally more time and memory
        return value * attempt if name in ("mem_mb", "runtime") else value

    return resource


def aggregate_inputs(wildcards):
    """Every chunk parquet and JSON of the sub-experiment (a dict look-up in the plan)."""
    if wildcards.experiment not in PLAN:
        raise ValueError(
            f"results/scalars/{wildcards.experiment}.parquet: '{wildcards.experiment}' is not a "
            f"training experiment of this config (known: {', '.join(PLAN) or 'none'})"
        )
    return chunk_outputs(wildcards.experiment)

# rules/common.smk: the Snakemake side of the experiment plan shared by every rule file.
#
# The planning itself (config checks, grid expansion, seed chunks, job arguments) is plain Python
# in onepass.pipeline, unit tested without Snakemake; this file keeps what needs Snakemake's
# `config` and `workflow` objects: paths beside the Snakefile, and the rules' input functions and
# resources, which are dict look-ups in the plan computed once by the Snakefile.
from pathlib import Path

from onepass.analysis.captions import figure_caption, table_caption
from onepass.analysis.targets import Planner
from onepass.patterns import alternation
from onepass.pipeline import hpo as hpo_plans
from onepass.pipeline.aggregation import aggregation_plan
from onepass.pipeline.catalog import load_catalog
from onepass.pipeline.checks import check_config, load_schema, schema_error_message
from onepass.pipeline.checks import check_config_files
from onepass.pipeline.errors import ConfigError
from onepass.pipeline.jobs import chunk_runtime, comparison_resources, default_python, seed_range
from onepass.pipeline.plan import build_plan
from onepass.pipeline.plan import chunk_outputs as _chunk_outputs
from onepass.training.algorithms import ALGORITHMS as _ALGORITHM_REGISTRY

# Exact names from docs/CONTRACTS.md, in canonical order (the order figures and tables use).
ALGORITHMS = list(_ALGORITHM_REGISTRY)

PYTHON = config.get("python") or default_python()


# ---- helpers of the plan (the Snakefile's analysis Planner uses experiment_names/experiment_cell) --


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


def train_priority(wildcards):
    """Lower seeds first, whatever the algorithm: a run stopped part way has the same seeds done for
    every algorithm (a paired prefix that can be analysed), not a scatter of chunks."""
    _, seeds = train_job(wildcards)
    return -seed_range(seeds)[0]


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


def aggregate_job(wildcards):
    """The aggregation plan entry of one experiment: its source kind and input files."""
    try:
        return AGGREGATES[wildcards.experiment]
    except KeyError:
        raise ValueError(
            f"results/scalars/{wildcards.experiment}.parquet: '{wildcards.experiment}' is not an "
            f"experiment of this config that a job makes (known: {', '.join(AGGREGATES) or 'none'})"
        ) from None


def aggregate_inputs(wildcards):
    """Every chunk parquet and JSON of the experiment: training chunks, BayesOpt repetitions or Ray searches."""
    return aggregate_job(wildcards)["inputs"]


# ---- input functions of rules/hpo.smk (the plans are HPO_BAYESOPT and HPO_RAY, built by the Snakefile)


def hpo_data(dataset):
    """The preprocessed tensors of a black-box job's dataset."""
    return {"data": f"resources/data/{dataset}/data.pt", "targets": f"resources/data/{dataset}/targets.pt"}


def bayesopt_job(wildcards):
    """The plan entry of one BayesOpt repetition's experiment (a clear error for a path outside it)."""
    plan = HPO_BAYESOPT.get(wildcards.experiment)
    if plan is None or wildcards.rep not in plan["reps"]:
        raise ValueError(f"results/runs/{wildcards.experiment}/BayesOpt/{wildcards.rep} is not a configured repetition")
    return plan


def ray_job(wildcards):
    """The plan entries of one Ray search: its experiment's and the search's own."""
    plan = HPO_RAY.get(wildcards.experiment)
    if plan is None or wildcards.search not in plan["searches"]:
        raise ValueError(f"results/ray/{wildcards.experiment}/{wildcards.search} is not a configured Ray search")
    return plan, plan["searches"][wildcards.search]


# ---- input functions of rules/figures.smk and rules/tables.smk (ANALYSIS: the Snakefile's Planner) ----


def comparison_job(wildcards):
    """Settings, threads, memory and minutes of one hypergradient comparison (onepass.pipeline.jobs)."""
    settings = ANALYSIS.hypergradient_settings(wildcards.comparison)
    return {"settings": settings, **comparison_resources(settings, CATALOG)}

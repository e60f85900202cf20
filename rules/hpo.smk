# rules/hpo.smk: black-box HPO baselines: Bayesian optimisation, ASHA and PBT.
#
# Experiments of `kind: bayesopt` (config keys below) run one job per repetition,
#   results/runs/<exp>/BayesOpt/rep<r:03d>.{parquet,json}   (python -m onepass.baselines.bayesopt run)
# and rule `aggregate` (rules/aggregate.smk) turns them into results/scalars/<exp>.parquet / <exp>_final.csv
# (algorithm BayesOpt, one CSV row per trial with a `trial` column) for the HPOCurves figures and the
# AverageResults tables.
#
# Experiments of `kind: ray` run one job per scheduler x algorithm (needs the `ray` extra),
#   results/ray/<exp>/<ASHA|PBT>_<Random|Ours_LR_Momentum>.{parquet,json}   (python -m onepass.baselines.raytune run)
# aggregated by rule `aggregate` into results/scalars/<exp>.* (algorithms ASHA_Random, PBT_Ours_LR_Momentum, ...), and feed
# the tables / the HPOCurves_Ray figure they name. Ray experiments are declared `enabled: false` in the
# paper config; only enabled ones get rules' targets (HPO_TARGETS, rule `hpo`). The plans (HPO_BAYESOPT,
# HPO_RAY, HPO_RAY_TABLES, HPO_RAY_FIGURES) are built by the Snakefile with onepass.pipeline.hpo; the
# input functions are in rules/common.smk.
#
# bayesopt keys: dataset, repetitions, random_trials (5), guided_trials (25), overrides ({}), penalty
#   (default per dataset: Energy 150, Kin8nm 0.1, Power 400, F-MNIST 3), kappa (2.576), bounds
#   ({lr_log10: [-6,-1], weight_decay_log10: [-7,-2], momentum: [1e-6, 1-1e-6]}), enabled, description.
# ray keys: dataset, scheduler (ASHA|PBT) or schedulers [..], algorithms ([Random, Ours_LR_Momentum]),
#   num_samples (int or {ASHA: n, PBT: n}; paper ASHA 114286, PBT 200), max_steps (4000),
#   perturbation_interval (100), grace_period, reduction_factor (4), cpus (8), seed (0), overrides,
#   table (a name, or {name: ..., <AverageResults options>}), figure (a name; experiments naming the
#   same figure share it, e.g. HPOCurves_Ray), enabled, description.


localrules:
    ray_table,
    ray_figure,
    hpo,


rule bayesopt:
    """One BayesOpt repetition: random + GP-guided Random_Validation trainings in one process."""
    input:
        unpack(lambda wildcards: hpo_data(bayesopt_job(wildcards)["dataset"])),
    output:
        parquet="results/runs/{experiment}/BayesOpt/{rep}.parquet",
        json="results/runs/{experiment}/BayesOpt/{rep}.json",
    log:
        "logs/bayesopt/{experiment}/{rep}.log",
    benchmark:
        "results/benchmarks/bayesopt/{experiment}/{rep}.tsv"
    wildcard_constraints:
        experiment=alternation(HPO_BAYESOPT),
        rep=r"rep\d+",
    params:
        python=PYTHON,
        arguments=lambda wildcards: bayesopt_job(wildcards)["arguments"],
        repetition=lambda wildcards: int(wildcards.rep[3:]),
        tensorboard=lambda wildcards: (
            f"--tensorboard-dir results/tensorboard/{wildcards.experiment}/BayesOpt/{wildcards.rep}"
            if config.get("tensorboard")
            else ""
        ),
        data_dir=lambda wildcards, input: str(Path(input.data).parent.parent),
    threads: lambda wildcards: bayesopt_job(wildcards)["threads"]
    resources:
        gpu=lambda wildcards: bayesopt_job(wildcards)["gpu"],
        mem_mb=lambda wildcards, attempt: bayesopt_job(wildcards)["mem_mb"] * attempt,
        runtime=lambda wildcards, attempt: bayesopt_job(wildcards)["runtime"] * attempt,
    shell:
        "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} "
        "{params.python:q} -m onepass.baselines.bayesopt run --repetition {params.repetition} {params.arguments} "
        "{params.tensorboard} --threads {threads} --quiet --data-dir {params.data_dir:q} --out {output.parquet:q} > {log:q} 2>&1"


rule ray_search:
    """One ASHA or PBT search over one inner algorithm (Ray Tune; needs `pip install .[ray]`)."""
    input:
        unpack(lambda wildcards: hpo_data(ray_job(wildcards)[0]["dataset"])),
    output:
        parquet="results/ray/{experiment}/{search}.parquet",
        json="results/ray/{experiment}/{search}.json",
    log:
        "logs/ray/{experiment}/{search}.log",
    benchmark:
        "results/benchmarks/ray/{experiment}/{search}.tsv"
    wildcard_constraints:
        experiment=alternation(HPO_RAY),
        search=alternation(hpo_plans.RAY_SEARCH_NAMES),  # ASHA_Random, ..., PBT_Ours_LR_Momentum
    params:
        python=PYTHON,
        arguments=lambda wildcards: ray_job(wildcards)[0]["arguments"],
        scheduler=lambda wildcards: ray_job(wildcards)[1]["scheduler"],
        algorithm=lambda wildcards: ray_job(wildcards)[1]["algorithm"],
        samples=lambda wildcards: ray_job(wildcards)[1]["n"],
        data_dir=lambda wildcards, input: str(Path(input.data).parent.parent),
    threads: lambda wildcards: ray_job(wildcards)[0]["cpus"]
    resources:
        mem_mb=lambda wildcards: 2000 + 1000 * ray_job(wildcards)[0]["cpus"],
        runtime=lambda wildcards: ray_job(wildcards)[1]["runtime"],
    shell:
        "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "
        "{params.python:q} -m onepass.baselines.raytune run --scheduler {params.scheduler} --algorithm {params.algorithm} "
        "--num-samples {params.samples} {params.arguments} --data-dir {params.data_dir:q} "
        "--out {output.parquet:q} > {log:q} 2>&1"


rule ray_table:
    """AverageResults table of Ray experiments (final test MSE of trials that ran max_steps)."""
    input:
        final=lambda wildcards: [f"results/scalars/{e}_final.csv" for e in HPO_RAY_TABLES[wildcards.name]["experiments"]],
    output:
        tex="results/tables/{name}.tex",
        csv="results/tables/{name}.csv",
    wildcard_constraints:
        name=alternation(HPO_RAY_TABLES),
    log:
        "logs/tables/{name}.log",
    benchmark:
        "results/benchmarks/ray_table/{name}.tsv"
    params:
        options=lambda wildcards: HPO_RAY_TABLES[wildcards.name],
        experiments_config=lambda wildcards: {
            e: (config.get("experiments") or {})[e] for e in HPO_RAY_TABLES[wildcards.name]["experiments"]
        },
    script:
        "../workflow/scripts/ray_table.py"


rule ray_figure:
    """HPOCurves_Ray: best test MSE so far against wall time, all trials of each search pooled."""
    input:
        scalars=lambda wildcards: [f"results/scalars/{e}.parquet" for e in HPO_RAY_FIGURES[wildcards.name]],
    output:
        pdf="results/figures/{name}.pdf",
        csv="results/figures/{name}.csv",
    wildcard_constraints:
        name=alternation(HPO_RAY_FIGURES),
    log:
        "logs/figures/{name}.log",
    benchmark:
        "results/benchmarks/ray_figure/{name}.tsv"
    script:
        "../workflow/scripts/ray_figure.py"


rule hpo:
    """Every enabled black-box baseline (BayesOpt aggregates; Ray searches, tables and figures)."""
    input:
        HPO_TARGETS,

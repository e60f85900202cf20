# rules/hpo_common.smk: plan of the black-box HPO baselines (rules/hpo.smk includes it).
#
# Kept apart from the rules so that `snakemake --lint` sees no mixed rules and functions. The checks
# and the plan are plain Python in onepass.pipeline.hpo (errors name the config key path), evaluated
# once at parse time: every input function below is a dict look-up.
from onepass.pipeline import hpo as _hpo

HPO_BAYESOPT = _hpo.bayesopt_plan(config, CATALOG)
HPO_RAY = _hpo.ray_plan(config, CATALOG)
HPO_RAY_TABLES = _hpo.ray_tables(HPO_RAY)
HPO_RAY_FIGURES = _hpo.ray_figures(HPO_RAY)
_hpo.check_ray_outputs(config, HPO_RAY_TABLES, HPO_RAY_FIGURES)
HPO_TARGETS = _hpo.hpo_targets(HPO_BAYESOPT, HPO_RAY, HPO_RAY_TABLES, HPO_RAY_FIGURES)


def _hpo_data(dataset):
    return {"data": f"resources/data/{dataset}/data.pt", "targets": f"resources/data/{dataset}/targets.pt"}


def _bayesopt_job(wildcards):
    plan = HPO_BAYESOPT.get(wildcards.experiment)
    if plan is None or wildcards.rep not in plan["reps"]:
        raise ValueError(f"results/runs/{wildcards.experiment}/BayesOpt/{wildcards.rep} is not a configured repetition")
    return plan


def _ray_job(wildcards):
    plan = HPO_RAY.get(wildcards.experiment)
    if plan is None or wildcards.search not in plan["searches"]:
        raise ValueError(f"results/ray/{wildcards.experiment}/{wildcards.search} is not a configured Ray search")
    return plan, plan["searches"][wildcards.search]

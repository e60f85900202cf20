"""Rule `aggregate_ray`: a Ray experiment's searches -> results/scalars/<experiment>{.parquet,_final.csv}."""

from onepass.baselines.raytune import aggregate_ray
from onepass.pipeline.rule_script import run_rule


def work(smk) -> str:
    parquets = [path for path in smk.input if path.endswith(".parquet")]
    counts = aggregate_ray(parquets, smk.params.experiment, smk.output.parquet, smk.output.final)
    return str(counts)


run_rule(snakemake, work)  # noqa: F821 - injected by Snakemake

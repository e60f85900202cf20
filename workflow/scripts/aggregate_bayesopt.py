"""Rule `aggregate_bayesopt`: a BayesOpt experiment's repetitions -> results/scalars/<experiment>.*"""

from onepass.baselines.bayesopt import aggregate_bayesopt
from onepass.pipeline.rule_script import run_rule


def work(smk) -> str:
    parquets = [path for path in smk.input if path.endswith(".parquet")]
    counts = aggregate_bayesopt(parquets, smk.params.experiment, smk.output.parquet, smk.output.final)
    return str(counts)


run_rule(snakemake, work)  # noqa: F821 - injected by Snakemake

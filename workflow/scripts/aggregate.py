"""Rule `aggregate`: an experiment's chunks (training, BayesOpt or Ray) -> results/scalars/<experiment>.*"""

from onepass.pipeline.aggregation import aggregate_experiment
from onepass.pipeline.rule_script import run_rule


def work(smk) -> str:
    counts = aggregate_experiment(
        smk.params.kind,
        smk.input,
        experiment=smk.params.experiment,
        parquet_out=smk.output.parquet,
        final_out=smk.output.final,
        algorithm_order=smk.params.algorithm_order,
    )
    return ", ".join(f"{count} {name}" for name, count in counts.items())


run_rule(snakemake, work)  # noqa: F821 - injected by Snakemake

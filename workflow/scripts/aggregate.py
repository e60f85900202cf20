"""Rule `aggregate`: a training experiment's chunks -> results/scalars/<experiment>{.parquet,_final.csv}."""

from onepass.pipeline.rule_script import run_rule
from onepass.records.aggregate import aggregate


def work(smk) -> str:
    counts = aggregate(
        smk.input,
        experiment=smk.params.experiment,
        parquet_out=smk.output.parquet,
        final_out=smk.output.final,
        algorithm_order=smk.params.algorithm_order,
    )
    return f"{counts['chunks']} chunks, {counts['runs']} runs, {counts['rows']} rows"


run_rule(snakemake, work)  # noqa: F821 - injected by Snakemake

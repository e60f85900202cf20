"""Rule `hypergradient_comparison`: Neumann vs exact first-step hypergradients per (T, i, seed),
written as one long table (T, i, seed, hyperparameter, neumann, exact) for the Hypergradients_* figures."""

from onepass.analysis.loading import atomic_write_csv
from onepass.pipeline.rule_script import run_rule
from onepass.studies.hypergradient_comparison import comparison_table


def work(smk) -> str:
    settings = dict(smk.params.settings)
    table = comparison_table(
        dataset_config=settings["dataset_config"],
        update_interval=list(settings["update_interval"]),
        lookbacks=list(settings["lookbacks"]),
        seeds=list(settings["seeds"]),
        data_dir=settings["data_dir"],
    )
    atomic_write_csv(table, smk.output[0])
    return f"wrote {smk.output[0]} ({len(table)} rows)"


run_rule(snakemake, work)  # noqa: F821 - injected by Snakemake

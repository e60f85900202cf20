"""Rule `ray_table`: the AverageResults table of the aggregated Ray experiments (trials that trained
the full max_steps)."""

from onepass.analysis.tables import build_table
from onepass.pipeline.rule_script import run_rule


def work(smk) -> str:
    options = dict(smk.params.options)
    stats = build_table(
        options.get("kind", "AverageResults"),
        smk.wildcards.name,
        options,
        {"final": list(smk.input.final)},
        smk.output.tex,
        smk.output.csv,
        experiments_config=dict(smk.params.experiments_config),
    )
    return f"wrote {smk.output.tex} ({len(stats)} rows)"


run_rule(snakemake, work)  # noqa: F821 - injected by Snakemake

"""Rule `table`: one configured table, results/tables/<Name>.tex, and its statistics, <Name>.csv."""

from onepass.analysis.tables import build_table
from onepass.analysis.targets import named_input_lists
from onepass.pipeline.rule_script import run_rule


def work(smk) -> str:
    stats = build_table(
        smk.params.kind,
        smk.wildcards.name,
        dict(smk.params.options),
        named_input_lists(smk.input),
        smk.output.tex,
        smk.output.csv,
        experiments_config=dict(smk.params.experiments_config),
        skip=list(smk.params.skip),
    )
    return f"wrote {smk.output.tex} ({len(stats)} rows)"


run_rule(snakemake, work)  # noqa: F821 - injected by Snakemake

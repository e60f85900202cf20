"""Rule `figure`: draw one configured figure, results/figures/<Name>.pdf, and its data, <Name>.csv."""

import matplotlib

matplotlib.use("Agg")

from onepass.analysis.figures import build_figure  # noqa: E402
from onepass.analysis.targets import named_input_lists  # noqa: E402
from onepass.pipeline.rule_script import run_rule  # noqa: E402


def work(smk) -> str:
    stats = build_figure(
        smk.params.kind,
        smk.wildcards.name,
        dict(smk.params.options),
        named_input_lists(smk.input),
        smk.output.pdf,
        smk.output.csv,
        experiments_config=dict(smk.params.experiments_config),
        cells=smk.params.cells,
    )
    return f"wrote {smk.output.pdf} ({len(stats)} sidecar rows)"


run_rule(snakemake, work)  # noqa: F821 - injected by Snakemake

"""Rule `ray_figure`: best-so-far test loss of the ASHA/PBT searches against time (HPOCurves_Ray)."""

import matplotlib

matplotlib.use("Agg")

from onepass.analysis.ray_results import build_ray_figure  # noqa: E402
from onepass.pipeline.rule_script import run_rule  # noqa: E402


def work(smk) -> str:
    curves = build_ray_figure(list(smk.input.scalars), smk.output.pdf, smk.output.csv)
    return f"wrote {smk.output.pdf} ({len(curves)} sidecar rows)"


run_rule(snakemake, work)  # noqa: F821 - injected by Snakemake

"""Snakemake entry point of rule `figure`: draw one configured figure (see rules/figures.smk)."""

import logging
import sys

import matplotlib

matplotlib.use("Agg")

from onepass.analysis.figures import build_figure  # noqa: E402
from onepass.analysis.targets import named_input_lists  # noqa: E402

log_path = snakemake.log[0] if snakemake.log else None
logging.basicConfig(filename=log_path, level=logging.INFO, format="%(asctime)s %(message)s")
try:
    inputs = named_input_lists(snakemake.input)
    stats = build_figure(
        snakemake.params.kind,
        snakemake.wildcards.name,
        dict(snakemake.params.options),
        inputs,
        snakemake.output.pdf,
        snakemake.output.csv,
        experiments_config=dict(snakemake.params.experiments_config),
        cells=snakemake.params.cells,
    )
    logging.info("wrote %s (%d sidecar rows)", snakemake.output.pdf, len(stats))
except Exception as error:
    logging.exception("figure %s failed", snakemake.wildcards.name)
    print(f"error: figure {snakemake.wildcards.name}: {error}", file=sys.stderr)
    raise

"""Snakemake entry point of rule `ray_figure` (HPOCurves_Ray): thin wrapper around ray_results."""

import logging
import sys

import matplotlib

matplotlib.use("Agg")

from onepass.analysis.ray_results import build_ray_figure  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(asctime)s %(message)s")
try:
    curves = build_ray_figure(list(snakemake.input.scalars), snakemake.output.pdf, snakemake.output.csv)
    logging.info("wrote %s (%d sidecar rows)", snakemake.output.pdf, len(curves))
except Exception as error:
    logging.exception("figure %s failed", snakemake.wildcards.name)
    print(f"error: figure {snakemake.wildcards.name}: {error}", file=sys.stderr)
    sys.exit(1)

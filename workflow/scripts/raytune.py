"""Snakemake entry point of rules `aggregate_ray` and `ray_table` (rules/hpo.smk): thin wrappers.

The table is the ordinary AverageResults table of onepass.analysis.tables, fed with the aggregated
Ray experiments (trials that trained the full max_steps).
"""

import logging
import sys

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(asctime)s %(message)s")
try:
    if snakemake.rule == "aggregate_ray":
        from onepass.baselines.raytune import aggregate_ray

        counts = aggregate_ray(
            [path for path in snakemake.input if path.endswith(".parquet")],
            snakemake.params.experiment,
            snakemake.output.parquet,
            snakemake.output.final,
        )
        logging.info("%s: %s", snakemake.params.experiment, counts)
    else:
        from onepass.analysis.tables import build_table

        options = dict(snakemake.params.options)
        stats = build_table(
            options.get("kind", "AverageResults"),
            snakemake.wildcards.name,
            options,
            {"final": list(snakemake.input.final)},
            snakemake.output.tex,
            snakemake.output.csv,
            experiments_config=dict(snakemake.params.experiments_config),
        )
        logging.info("wrote %s (%d rows)", snakemake.output.tex, len(stats))
except Exception as error:
    logging.exception("rule %s failed", snakemake.rule)
    print(f"error: {snakemake.rule}: {error}", file=sys.stderr)
    sys.exit(1)

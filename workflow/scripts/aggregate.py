"""Snakemake entry point of rule `aggregate`: thin wrapper around onepass.records.aggregate.aggregate."""

import logging
import sys

from onepass.records.aggregate import aggregate

logging.basicConfig(
    filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(asctime)s %(message)s"
)
try:
    counts = aggregate(
        snakemake.input,
        experiment=snakemake.params.experiment,
        parquet_out=snakemake.output.parquet,
        final_out=snakemake.output.final,
        algorithm_order=snakemake.params.algorithm_order,
    )
except Exception:
    logging.exception("aggregation of %s failed", snakemake.params.experiment)
    sys.exit(1)
logging.info("%s: %s", snakemake.params.experiment, counts)

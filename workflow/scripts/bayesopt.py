"""Snakemake entry point of rule `aggregate_bayesopt`: thin wrapper around onepass.baselines.bayesopt."""

import logging
import sys

from onepass.baselines.bayesopt import aggregate_bayesopt

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(asctime)s %(message)s")
try:
    counts = aggregate_bayesopt(
        [path for path in snakemake.input if path.endswith(".parquet")],
        snakemake.params.experiment,
        snakemake.output.parquet,
        snakemake.output.final,
    )
except Exception as error:
    logging.exception("BayesOpt aggregation of %s failed", snakemake.params.experiment)
    print(f"error: {snakemake.params.experiment}: {error}", file=sys.stderr)
    sys.exit(1)
logging.info("%s: %s", snakemake.params.experiment, counts)

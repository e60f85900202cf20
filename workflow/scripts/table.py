"""Snakemake entry point of rule `table`: write one configured table (see rules/tables.smk)."""

import logging
import sys

from onepass.analysis.tables import build_table
from onepass.analysis.targets import named_input_lists

log_path = snakemake.log[0] if snakemake.log else None
logging.basicConfig(filename=log_path, level=logging.INFO, format="%(asctime)s %(message)s")
try:
    inputs = named_input_lists(snakemake.input)
    stats = build_table(
        snakemake.params.kind,
        snakemake.wildcards.name,
        dict(snakemake.params.options),
        inputs,
        snakemake.output.tex,
        snakemake.output.csv,
        experiments_config=dict(snakemake.params.experiments_config),
        skip=list(snakemake.params.skip),
    )
    logging.info("wrote %s (%d rows)", snakemake.output.tex, len(stats))
except Exception as error:
    logging.exception("table %s failed", snakemake.wildcards.name)
    print(f"error: table {snakemake.wildcards.name}: {error}", file=sys.stderr)
    raise

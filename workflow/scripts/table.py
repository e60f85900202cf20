"""Snakemake entry point of rule `table`: write one configured table (see rules/tables.smk)."""

import logging
import sys

from onepass.analysis.tables import build_table

log_path = snakemake.log[0] if snakemake.log else None
logging.basicConfig(filename=log_path, level=logging.INFO, format="%(asctime)s %(message)s")
try:
    inputs = {
        key: list(snakemake.input[key]) if not isinstance(snakemake.input[key], str) else [snakemake.input[key]]
        for key in snakemake.input.keys()
    }
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

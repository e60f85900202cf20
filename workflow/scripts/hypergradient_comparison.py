"""Snakemake entry point of rule `hypergradient_comparison` (thin wrapper around the library).

Calls ``onepass.studies.hypergradient_comparison.comparison_table`` and writes its long table
(T, i, seed, hyperparameter, neumann, exact) atomically; the Hypergradients_* figures read it.
"""

import logging

from onepass.analysis.loading import atomic_write_csv
from onepass.studies.hypergradient_comparison import comparison_table

log_path = snakemake.log[0] if snakemake.log else None
logging.basicConfig(filename=log_path, level=logging.INFO, format="%(asctime)s %(message)s")
settings = dict(snakemake.params.settings)
table = comparison_table(
    dataset_config=settings["dataset_config"],
    network_weight_steps=list(settings["network_weight_steps"]),
    lookbacks=list(settings["lookbacks"]),
    seeds=list(settings["seeds"]),
    data_dir=settings["data_dir"],
)
missing = {"T", "i", "seed", "hyperparameter", "neumann", "exact"} - set(table.columns)
if missing:
    raise ValueError(f"comparison_table returned no column(s) {sorted(missing)}")
atomic_write_csv(table, snakemake.output[0])
logging.info("wrote %s (%d rows)", snakemake.output[0], len(table))

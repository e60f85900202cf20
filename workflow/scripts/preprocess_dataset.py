"""Snakemake `script:` for the preprocess_* rules: verified raw files -> resources/data/<id>/."""

import logging
import os
import sys

from onepass.datasets import DatasetError, parse_sources, preprocess

logging.basicConfig(
    level=logging.INFO,
    format="%(asctime)s %(levelname)s %(message)s",
    handlers=[logging.FileHandler(snakemake.log[0]), logging.StreamHandler(sys.stderr)],
)
spec = dict(snakemake.params.source)
dataset, sources = spec.pop("dataset"), spec.pop("sources")
try:
    source = parse_sources({"datasets": {dataset: spec}}, sources)[dataset]
    inputs = {key: snakemake.input[key] for key in source.files}
    preprocess(source, inputs, os.path.dirname(snakemake.output.data))
except DatasetError as exc:
    logging.error("%s", exc)
    sys.exit(f"error: {exc}")

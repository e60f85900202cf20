"""Snakemake `script:` for rule fetch_raw: copy (data_mirror) or download one raw file and verify it."""

import logging
import sys

from onepass.datasets import DatasetError, fetch_file
from onepass.datasets.sources import parse_raw_file

logging.basicConfig(
    level=logging.INFO,
    format="%(asctime)s %(levelname)s %(message)s",
    handlers=[logging.FileHandler(snakemake.log[0]), logging.StreamHandler(sys.stderr)],
)
entry = dict(snakemake.params.source)
dataset, key, sources = entry.pop("dataset"), entry.pop("key"), entry.pop("sources")
try:
    raw = parse_raw_file(sources, dataset, key, entry)
    fetch_file(raw, snakemake.output[0], mirror=snakemake.config.get("data_mirror"))
except DatasetError as exc:
    logging.error("%s", exc)
    sys.exit(f"error: {exc}")

"""Snakemake `script:` for rule fetch_raw: copy (data_mirror, else the repository's data/) or download
one raw file, and verify it."""

import logging
import sys
from pathlib import Path

from onepass.datasets import DatasetError, fetch_file
from onepass.datasets.sources import EMBEDDED_ROOT, parse_raw_file

logging.basicConfig(
    level=logging.INFO,
    format="%(asctime)s %(levelname)s %(message)s",
    handlers=[logging.FileHandler(snakemake.log[0]), logging.StreamHandler(sys.stderr)],
)
entry = dict(snakemake.params.source)
dataset, key, sources = entry.pop("dataset"), entry.pop("key"), entry.pop("sources")
try:
    raw = parse_raw_file(sources, dataset, key, entry)
    embedded = Path(snakemake.scriptdir).parents[1] / EMBEDDED_ROOT  # <repository>/data
    fetch_file(raw, snakemake.output[0], mirror=snakemake.config.get("data_mirror"), embedded=embedded)
except DatasetError as exc:
    logging.error("%s", exc)
    sys.exit(f"error: {exc}")

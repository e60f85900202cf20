"""Raw dataset sources and their preprocessing into the tensors the experiments load.

Each dataset is described once, by its YAML in the package (:mod:`.registry`; ``DATASET_IDS`` are
their names); its ``source:`` section says where each raw file comes from and what it hashes to
(:mod:`.sources`); :mod:`.fetch` downloads or copies it from a local mirror and verifies it;
the per-dataset modules (:mod:`.uci`, :mod:`.fashion_mnist`, :mod:`.cifar10`,
:mod:`.penn_treebank`) turn raw files into tensors, and :mod:`.builder` writes
``resources/data/<id>/{data,targets}.pt`` atomically. The Snakemake rules in ``rules/data.smk``
call :func:`fetch_file` and :func:`preprocess`; ``python -m onepass.datasets`` does both without
Snakemake.
"""

from __future__ import annotations

from ..lazy import lazy_attributes
from .errors import (
    ArchiveError,
    ChecksumError,
    DatasetError,
    FetchError,
    FormatError,
    RegistryError,
    SourceConfigError,
)

# Public names -> defining module. Imported on first use (PEP 562) so that a fetch job, which only
# needs .sources and .fetch, does not import torch (seconds per Snakemake job).
_LAZY = {
    "build": ".builder",
    "fetch_dataset": ".builder",
    "preprocess": ".builder",
    "fetch_file": ".fetch",
    "sha256_file": ".fetch",
    "verify_file": ".fetch",
    "load_tensor": ".io",
    "DATASET_IDS": ".registry",
    "DatasetSource": ".sources",
    "RawFile": ".sources",
    "load_sources": ".sources",
    "parse_source": ".sources",
    "parse_sources": ".sources",
}


__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "DATASET_IDS",
    "ArchiveError",
    "ChecksumError",
    "DatasetError",
    "DatasetSource",
    "FetchError",
    "FormatError",
    "RawFile",
    "RegistryError",
    "SourceConfigError",
    "build",
    "fetch_dataset",
    "fetch_file",
    "load_sources",
    "load_tensor",
    "parse_source",
    "parse_sources",
    "preprocess",
    "sha256_file",
    "verify_file",
]

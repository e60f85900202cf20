"""The kinds of raw dataset, one table: what a kind's raw files are, what it writes, which options
it takes, which function builds it and how much memory that needs.

Adding a kind of dataset is one entry here plus the module of its builder (and a preprocess rule in
`rules/data.smk` if its outputs differ from those of `preprocess` and `preprocess_text`). Builders
are named, not imported, so
that reading this table (as the rule files do while Snakemake parses the workflow) loads no torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DatasetKind:
    """One preprocessing kind; ``builder(*raw file paths in `files` order, **options)`` returns
    ``(data, targets)`` or ``(data, targets, vocabulary)``."""

    name: str
    files: tuple[str, ...]  # raw file keys of a `source:` of this kind (onepass.datasets.sources)
    outputs: tuple[str, ...]  # written under resources/data/<id>/
    options: frozenset[str]  # the `options` keys it accepts in a `source:`
    builder: str  # "<module>:<function>" in onepass.datasets
    mem_mb: int  # memory of its preprocessing job

    def build_function(self) -> Callable[..., tuple[Any, ...]]:
        module, function = self.builder.split(":")
        return getattr(importlib.import_module(f".{module}", __package__), function)


KINDS: dict[str, DatasetKind] = {
    k.name: k
    for k in [
        DatasetKind("uci", ("data", "permutation"), ("data.pt", "targets.pt"),
                    frozenset({"columns", "drop_columns", "rows"}), "uci:build_uci", 1000),
        DatasetKind("fashion_mnist", ("train_images", "train_labels", "test_images", "test_labels"),
                    ("data.pt", "targets.pt"), frozenset({"train_rows", "test_rows"}),
                    "fashion_mnist:build_fashion_mnist", 4000),
        DatasetKind("cifar10", ("archive",), ("data.pt", "targets.pt"), frozenset({"train_rows", "test_rows"}),
                    "cifar10:build_cifar10", 4000),
        DatasetKind("penn_treebank", ("archive",), ("data.pt", "targets.pt", "vocab.txt"),
                    frozenset({"tokens", "vocab_size", "members_md5"}), "penn_treebank:build_penn_treebank", 2000),
    ]
}  # fmt: skip

"""Turn a dataset's verified raw files into ``resources/data/<id>/{data,targets}.pt``.

This is the one entry point the workflow scripts and the CLI call: it re-verifies the raw files'
checksums (a file in ``resources/raw`` may have changed since it was fetched), calls the builder of
the dataset's kind (:data:`onepass.datasets.sources.KINDS`) and writes all outputs atomically (all or
none).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from .errors import SourceConfigError
from .fetch import fetch_file, verify_file
from .io import save_tensors
from .penn_treebank import vocabulary_text
from .sources import DATA_ROOT, KINDS, RAW_ROOT, DatasetSource

log = logging.getLogger(__name__)


def _options(source: DatasetSource) -> dict:
    unknown = set(source.options) - KINDS[source.kind].options
    if unknown:
        first = next(iter(source.files.values()))
        where = first.entry or f"datasets.{source.id}"
        raise SourceConfigError(
            f"{first.sources_path}: {where}.options: unknown keys {sorted(unknown)} for kind {source.kind} "
            f"(allowed: {sorted(KINDS[source.kind].options)})"
        )
    return dict(source.options)


def preprocess(
    source: DatasetSource,
    inputs: Mapping[str, str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    verify: bool = True,
) -> list[Path]:
    """Build the dataset's outputs in ``out_dir`` from its raw files (``inputs``: file key -> path).

    Returns the written paths. Raises a :class:`~onepass.datasets.errors.DatasetError` naming the
    offending file on any problem, in which case no output is written.
    """
    missing = set(source.files) - set(inputs)
    if missing:
        raise SourceConfigError(f"dataset {source.id}: no input given for raw files {sorted(missing)}")
    paths = {key: Path(inputs[key]) for key in source.files}
    options = _options(source)
    if verify:
        for key, path in paths.items():
            verify_file(path, source.files[key])
    out = Path(out_dir)
    kind = KINDS[source.kind]
    built = kind.build_function()(*(paths[key] for key in kind.files), **options)
    data, targets = built[0], built[1]
    texts: dict[Path, str] = {}
    if len(built) == 3:  # a vocabulary (Penn Treebank): one token per line, line k = id k
        texts[out / "vocab.txt"] = vocabulary_text(built[2])
    tensors: dict[Path, torch.Tensor] = {out / "data.pt": data, out / "targets.pt": targets}
    save_tensors(tensors, texts)
    written = [out / name for name in kind.outputs]
    log.info(
        "%s: data %s %s, targets %s %s -> %s",
        source.id,
        tuple(data.shape),
        data.dtype,
        tuple(targets.shape),
        targets.dtype,
        out,
    )
    return written


def fetch_dataset(
    source: DatasetSource,
    *,
    raw_root: str | os.PathLike = RAW_ROOT,
    mirror: str | os.PathLike | None = None,
    embedded: str | os.PathLike | None = None,
    progress: bool = True,
    force: bool = False,
) -> dict[str, Path]:
    """Fetch (or reuse, if present and verified) every raw file of a dataset; key -> path."""
    paths: dict[str, Path] = {}
    for key, raw in source.files.items():
        dest = raw.raw_path(raw_root)
        if dest.is_file() and not force:
            verify_file(dest, raw)
        else:
            fetch_file(raw, dest, mirror=mirror, embedded=embedded, progress=progress)
        paths[key] = dest
    return paths


def build(
    source: DatasetSource,
    *,
    raw_root: str | os.PathLike = RAW_ROOT,
    data_root: str | os.PathLike = DATA_ROOT,
    mirror: str | os.PathLike | None = None,
    embedded: str | os.PathLike | None = None,
    progress: bool = True,
) -> list[Path]:
    """Fetch and preprocess one dataset without Snakemake (used by ``python -m onepass.datasets``)."""
    inputs = fetch_dataset(source, raw_root=raw_root, mirror=mirror, embedded=embedded, progress=progress)
    return preprocess(source, inputs, Path(data_root) / source.id, verify=False)

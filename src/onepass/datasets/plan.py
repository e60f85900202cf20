"""What the data rules need from the datasets' sources, as plain functions (no Snakemake import).

``rules/data.smk`` calls these from its lambdas: wildcard patterns for the dataset ids and raw
file names, each dataset's inputs/outputs, the rule parameters (the dataset's entry, so that a
changed URL, sha256 or option reruns exactly the affected jobs) and the datasets a config's
experiments use. ``sources`` is :func:`onepass.datasets.sources.load_sources`'s result; ``sources_path``
only names where the sources come from in error messages (the registry, or an override file).
Keeping them here makes them testable without running Snakemake.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..patterns import alternation
from .errors import SourceConfigError
from .sources import DATA_ROOT, KINDS, RAW_ROOT, DatasetSource, source_document


def _alternatives(values) -> str:
    return alternation(sorted(values))


def ids_pattern(sources: Mapping[str, DatasetSource], *kinds: str) -> str:
    """A wildcard constraint matching the ids of the given kinds (all kinds if none given)."""
    return _alternatives(d for d, s in sources.items() if not kinds or s.kind in kinds)


def ids_writing(sources: Mapping[str, DatasetSource], *outputs: str) -> str:
    """A wildcard constraint matching the ids whose kind writes exactly ``outputs`` (one preprocess
    rule per set of outputs, since Snakemake's outputs cannot depend on the wildcard's value)."""
    return _alternatives(d for d, s in sources.items() if set(KINDS[s.kind].outputs) == set(outputs))


def raw_names_pattern(sources: Mapping[str, DatasetSource]) -> str:
    """A wildcard constraint matching every raw file name of the sources."""
    return _alternatives({f.raw for s in sources.values() for f in s.files.values()})


def _source(sources: Mapping[str, DatasetSource], dataset: str, sources_path: str) -> DatasetSource:
    if dataset not in sources:
        raise SourceConfigError(f"{sources_path}: no dataset {dataset!r} (known: {', '.join(sources)})")
    return sources[dataset]


def dataset_outputs(
    sources: Mapping[str, DatasetSource], dataset: str, sources_path: str, data_root: str = DATA_ROOT
) -> list[str]:
    """The preprocessed files of one dataset, e.g. ``resources/data/uci_energy/data.pt``."""
    source = _source(sources, dataset, sources_path)
    return [f"{data_root}/{dataset}/{name}" for name in KINDS[source.kind].outputs]


def raw_inputs(
    sources: Mapping[str, DatasetSource], dataset: str, sources_path: str, raw_root: str = RAW_ROOT
) -> dict[str, str]:
    """The raw files of one dataset by file key, e.g. ``{"data": "resources/raw/uci_energy/data.txt"}``."""
    source = _source(sources, dataset, sources_path)
    return {key: f"{raw_root}/{dataset}/{raw.raw}" for key, raw in source.files.items()}


def raw_file_params(
    sources: Mapping[str, DatasetSource], dataset: str, filename: str, sources_path: str
) -> dict[str, Any]:
    """The fetch job's parameter: the raw file's entry plus its dataset, key and where it is written."""
    source = _source(sources, dataset, sources_path)
    for key, raw in source.files.items():
        if raw.raw == filename:
            entry = source_document(source)["files"][key]
            return {"dataset": dataset, "key": key, "sources": raw.sources_path, "entry": raw.entry, **entry}
    raise SourceConfigError(
        f"{sources_path}: dataset {dataset} has no raw file {filename!r} "
        f"(its files: {', '.join(f.raw for f in source.files.values())})"
    )


def dataset_params(sources: Mapping[str, DatasetSource], dataset: str, sources_path: str) -> dict[str, Any]:
    """The preprocessing job's parameter: the dataset's whole entry plus its id and where it is written."""
    source = _source(sources, dataset, sources_path)
    first = next(iter(source.files.values()))
    return {"dataset": dataset, "sources": first.sources_path, "entry": first.entry, **source_document(source)}


def experiment_datasets(
    sources: Mapping[str, DatasetSource], experiments: Mapping[str, Any] | None, sources_path: str
) -> list[str]:
    """The sorted dataset ids used by ``config["experiments"]`` (each experiment's ``dataset``)."""
    used = set()
    for name, experiment in (experiments or {}).items():
        dataset = (experiment or {}).get("dataset") if isinstance(experiment, Mapping) else None
        if dataset is None:
            raise SourceConfigError(f"config: experiments.{name}.dataset is missing")
        if dataset not in sources:
            raise SourceConfigError(
                f"config: experiments.{name}.dataset: {dataset!r} is not a dataset of {sources_path} "
                f"(known: {', '.join(sources)})"
            )
        used.add(dataset)
    return sorted(used)


def data_targets(
    sources: Mapping[str, DatasetSource], experiments: Mapping[str, Any] | None, sources_path: str
) -> list[str]:
    """Every preprocessed file of every dataset the experiments use (rule ``data``'s input)."""
    return [
        path
        for dataset in experiment_datasets(sources, experiments, sources_path)
        for path in dataset_outputs(sources, dataset, sources_path)
    ]


def preprocess_mem_mb(sources: Mapping[str, DatasetSource], dataset: str, sources_path: str) -> int:
    """Memory (MB) of the dataset's preprocessing job, from its kind."""
    return KINDS[_source(sources, dataset, sources_path).kind].mem_mb

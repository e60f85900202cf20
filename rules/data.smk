# rules/data.smk: raw sources -> resources/raw/<id>/..., preprocessing -> resources/data/<id>/...
#
# Config keys read here:
#   sources      sources YAML (default: config/sources.yaml beside the Snakefile; a path given
#                with --config sources=... is relative to the working directory)
#   data_mirror  local folder laid out like the upstream sources (null: download from the URLs)
#   experiments  each experiment's `dataset` decides what `data` builds
# Targets: `data` (every dataset the config's experiments use), resources/data/<id>/data.pt
# (one dataset), resources/raw/<id>/<file> (one raw file).

import os
import re

from onepass.datasets.sources import KIND_OUTPUTS, load_sources, source_document

DATA_SOURCES_FILE = config.get("sources") or os.path.join(workflow.basedir, "config", "sources.yaml")
DATA_SOURCES = load_sources(DATA_SOURCES_FILE)
_DATA_MATCH_NOTHING = "(?!x)x"


def _data_ids_pattern(*kinds):
    ids = [d for d, s in DATA_SOURCES.items() if s.kind in kinds]
    return "|".join(re.escape(d) for d in ids) or _DATA_MATCH_NOTHING


def _data_raw_names_pattern():
    names = sorted({f.raw for s in DATA_SOURCES.values() for f in s.files.values()})
    return "|".join(re.escape(n) for n in names) or _DATA_MATCH_NOTHING


def data_outputs(dataset):
    """The preprocessed files of one dataset id (for other rules' inputs)."""
    if dataset not in DATA_SOURCES:
        raise ValueError(
            f"unknown dataset {dataset!r}: not in {DATA_SOURCES_FILE} "
            f"(known: {', '.join(DATA_SOURCES)})"
        )
    return [f"resources/data/{dataset}/{name}" for name in KIND_OUTPUTS[DATA_SOURCES[dataset].kind]]


def data_experiment_datasets():
    """Dataset ids used by config['experiments'] (each experiment's `dataset`), sorted."""
    used = set()
    for name, experiment in (config.get("experiments") or {}).items():
        dataset = (experiment or {}).get("dataset")
        if dataset is None:
            raise ValueError(f"config: experiments.{name}.dataset is missing")
        if dataset not in DATA_SOURCES:
            raise ValueError(
                f"config: experiments.{name}.dataset: {dataset!r} is not a dataset of "
                f"{DATA_SOURCES_FILE} (known: {', '.join(DATA_SOURCES)})"
            )
        used.add(dataset)
    return sorted(used)


def _data_raw_entry(wildcards):
    source = DATA_SOURCES[wildcards.dataset]
    for key, raw in source.files.items():
        if raw.raw == wildcards.filename:
            return {"dataset": source.id, "key": key, "sources": DATA_SOURCES_FILE,
                    **source_document(source)["files"][key]}
    raise ValueError(
        f"{DATA_SOURCES_FILE}: dataset {wildcards.dataset} has no raw file {wildcards.filename!r} "
        f"(its files: {', '.join(f.raw for f in source.files.values())})"
    )


def _data_raw_inputs(wildcards):
    source = DATA_SOURCES[wildcards.dataset]
    return {key: f"resources/raw/{source.id}/{raw.raw}" for key, raw in source.files.items()}


def _data_source_param(wildcards):
    return {"dataset": wildcards.dataset, "sources": DATA_SOURCES_FILE,
            **source_document(DATA_SOURCES[wildcards.dataset])}


localrules: data, fetch_raw


rule data:
    input:
        lambda wildcards: [path for d in data_experiment_datasets() for path in data_outputs(d)],


rule fetch_raw:
    output:
        "resources/raw/{dataset}/{filename}",
    wildcard_constraints:
        dataset=_data_ids_pattern(*KIND_OUTPUTS),
        filename=_data_raw_names_pattern(),
    params:
        source=_data_raw_entry,
    log:
        "logs/data/fetch_raw/{dataset}/{filename}.log",
    benchmark:
        "results/benchmarks/data/fetch_raw/{dataset}/{filename}.tsv"
    script:
        "../workflow/scripts/fetch_source.py"


rule preprocess_uci:
    input:
        unpack(_data_raw_inputs),
    output:
        data="resources/data/{dataset}/data.pt",
        targets="resources/data/{dataset}/targets.pt",
    wildcard_constraints:
        dataset=_data_ids_pattern("uci"),
    params:
        source=_data_source_param,
    log:
        "logs/data/preprocess/{dataset}.log",
    benchmark:
        "results/benchmarks/data/preprocess/{dataset}.tsv"
    resources:
        mem_mb=1000,
    script:
        "../workflow/scripts/preprocess_dataset.py"


rule preprocess_images:
    input:
        unpack(_data_raw_inputs),
    output:
        data="resources/data/{dataset}/data.pt",
        targets="resources/data/{dataset}/targets.pt",
    wildcard_constraints:
        dataset=_data_ids_pattern("fashion_mnist", "cifar10"),
    params:
        source=_data_source_param,
    log:
        "logs/data/preprocess/{dataset}.log",
    benchmark:
        "results/benchmarks/data/preprocess/{dataset}.tsv"
    resources:
        mem_mb=4000,
    script:
        "../workflow/scripts/preprocess_dataset.py"


rule preprocess_text:
    input:
        unpack(_data_raw_inputs),
    output:
        data="resources/data/{dataset}/data.pt",
        targets="resources/data/{dataset}/targets.pt",
        vocab="resources/data/{dataset}/vocab.txt",
    wildcard_constraints:
        dataset=_data_ids_pattern("penn_treebank"),
    params:
        source=_data_source_param,
    log:
        "logs/data/preprocess/{dataset}.log",
    benchmark:
        "results/benchmarks/data/preprocess/{dataset}.tsv"
    resources:
        mem_mb=2000,
    script:
        "../workflow/scripts/preprocess_dataset.py"

# rules/data.smk: raw sources -> resources/raw/<id>/..., preprocessing -> resources/data/<id>/...
#
# Config keys read here:
#   sources      sources YAML (default: config/sources.yaml beside the Snakefile; a path given
#                with --config sources=... is relative to the working directory)
#   data_mirror  local folder laid out like the upstream sources (null: download from the URLs);
#                read by workflow/scripts/fetch_raw.py, so switching it reruns nothing
#   experiments  each experiment's `dataset` decides what `data` builds
# Targets: `data` (every dataset the config's experiments use), resources/data/<id>/data.pt
# (one dataset), resources/raw/<id>/<file> (one raw file). The logic lives in
# onepass.datasets.plan (plain functions, unit-tested); the rules only wire it up.

import os

from onepass.datasets import plan as data_plan
from onepass.datasets.sources import load_sources

# Relative to the working directory: the path is part of the jobs' params (for error messages), so an
# absolute one would rerun every data job when the checkout moves.
DATA_SOURCES_FILE = config.get("sources") or os.path.relpath(
    os.path.join(workflow.basedir, "config", "sources.yaml")
)
DATA_SOURCES = load_sources(DATA_SOURCES_FILE)


localrules:
    data,
    fetch_raw,


rule data:
    input:
        lambda wc: data_plan.data_targets(DATA_SOURCES, config.get("experiments"), DATA_SOURCES_FILE),


rule fetch_raw:
    output:
        "resources/raw/{dataset}/{filename}",
    wildcard_constraints:
        dataset=data_plan.ids_pattern(DATA_SOURCES),
        filename=data_plan.raw_names_pattern(DATA_SOURCES),
    params:
        source=lambda wc: data_plan.raw_file_params(DATA_SOURCES, wc.dataset, wc.filename, DATA_SOURCES_FILE),
    log:
        "logs/data/fetch_raw/{dataset}/{filename}.log",
    benchmark:
        "results/benchmarks/data/fetch_raw/{dataset}/{filename}.tsv"
    script:
        "../workflow/scripts/fetch_raw.py"


rule preprocess_uci:
    input:
        unpack(lambda wc: data_plan.raw_inputs(DATA_SOURCES, wc.dataset, DATA_SOURCES_FILE)),
    output:
        data="resources/data/{dataset}/data.pt",
        targets="resources/data/{dataset}/targets.pt",
    wildcard_constraints:
        dataset=data_plan.ids_pattern(DATA_SOURCES, "uci"),
    params:
        source=lambda wc: data_plan.dataset_params(DATA_SOURCES, wc.dataset, DATA_SOURCES_FILE),
    log:
        "logs/data/preprocess/{dataset}.log",
    benchmark:
        "results/benchmarks/data/preprocess/{dataset}.tsv"
    resources:
        mem_mb=lambda wc: data_plan.preprocess_mem_mb(DATA_SOURCES, wc.dataset, DATA_SOURCES_FILE),
    script:
        "../workflow/scripts/preprocess.py"


rule preprocess_images:
    input:
        unpack(lambda wc: data_plan.raw_inputs(DATA_SOURCES, wc.dataset, DATA_SOURCES_FILE)),
    output:
        data="resources/data/{dataset}/data.pt",
        targets="resources/data/{dataset}/targets.pt",
    wildcard_constraints:
        dataset=data_plan.ids_pattern(DATA_SOURCES, "fashion_mnist", "cifar10"),
    params:
        source=lambda wc: data_plan.dataset_params(DATA_SOURCES, wc.dataset, DATA_SOURCES_FILE),
    log:
        "logs/data/preprocess/{dataset}.log",
    benchmark:
        "results/benchmarks/data/preprocess/{dataset}.tsv"
    resources:
        mem_mb=lambda wc: data_plan.preprocess_mem_mb(DATA_SOURCES, wc.dataset, DATA_SOURCES_FILE),
    script:
        "../workflow/scripts/preprocess.py"


rule preprocess_text:
    input:
        unpack(lambda wc: data_plan.raw_inputs(DATA_SOURCES, wc.dataset, DATA_SOURCES_FILE)),
    output:
        data="resources/data/{dataset}/data.pt",
        targets="resources/data/{dataset}/targets.pt",
        vocab="resources/data/{dataset}/vocab.txt",
    wildcard_constraints:
        dataset=data_plan.ids_pattern(DATA_SOURCES, "penn_treebank"),
    params:
        source=lambda wc: data_plan.dataset_params(DATA_SOURCES, wc.dataset, DATA_SOURCES_FILE),
    log:
        "logs/data/preprocess/{dataset}.log",
    benchmark:
        "results/benchmarks/data/preprocess/{dataset}.tsv"
    resources:
        mem_mb=lambda wc: data_plan.preprocess_mem_mb(DATA_SOURCES, wc.dataset, DATA_SOURCES_FILE),
    script:
        "../workflow/scripts/preprocess.py"

# rules/data.smk: raw sources -> resources/raw/<id>/..., preprocessing -> resources/data/<id>/...
#
# Each dataset's raw files are the `source:` section of its registry YAML
# (onepass/configs/datasets/<id>.yaml, read by onepass.datasets.sources). Config keys read here:
#   sources      optional YAML `datasets: {<id>: <source entry>}` replacing the entries of the
#                datasets it names (tests and private mirrors; a path relative to the working directory)
#   data_mirror  local folder laid out like the upstream sources (null: download from the URLs);
#                read by workflow/scripts/fetch_raw.py, so switching it reruns nothing
#   experiments  each experiment's `dataset` decides what `data` builds
# Targets: `data` (every dataset the config's experiments use), resources/data/<id>/data.pt
# (one dataset), resources/raw/<id>/<file> (one raw file). The logic lives in
# onepass.datasets.plan (plain functions, unit-tested); the rules only wire it up.

from onepass.datasets import plan as data_plan
from onepass.datasets.sources import load_sources

DATA_SOURCES_FILE = config.get("sources")
# how error messages name where the sources come from
DATA_SOURCES_NAME = DATA_SOURCES_FILE or "the dataset registry (onepass/configs/datasets/)"
DATA_SOURCES = load_sources(DATA_SOURCES_FILE)


localrules:
    data,
    fetch_raw,


rule data:
    input:
        lambda wc: data_plan.data_targets(DATA_SOURCES, config.get("experiments"), DATA_SOURCES_NAME),


rule fetch_raw:
    output:
        "resources/raw/{dataset}/{filename}",
    wildcard_constraints:
        dataset=data_plan.ids_pattern(DATA_SOURCES),
        filename=data_plan.raw_names_pattern(DATA_SOURCES),
    params:
        source=lambda wc: data_plan.raw_file_params(DATA_SOURCES, wc.dataset, wc.filename, DATA_SOURCES_NAME),
    log:
        "logs/data/fetch_raw/{dataset}/{filename}.log",
    benchmark:
        "results/benchmarks/data/fetch_raw/{dataset}/{filename}.tsv"
    script:
        "../workflow/scripts/fetch_raw.py"


rule preprocess:
    """Tensors of a dataset whose kind writes data.pt and targets.pt only (UCI, images)."""
    input:
        unpack(lambda wc: data_plan.raw_inputs(DATA_SOURCES, wc.dataset, DATA_SOURCES_NAME)),
    output:
        data="resources/data/{dataset}/data.pt",
        targets="resources/data/{dataset}/targets.pt",
    wildcard_constraints:
        dataset=data_plan.ids_writing(DATA_SOURCES, "data.pt", "targets.pt"),
    params:
        source=lambda wc: data_plan.dataset_params(DATA_SOURCES, wc.dataset, DATA_SOURCES_NAME),
    log:
        "logs/data/preprocess/{dataset}.log",
    benchmark:
        "results/benchmarks/data/preprocess/{dataset}.tsv"
    resources:
        mem_mb=lambda wc: data_plan.preprocess_mem_mb(DATA_SOURCES, wc.dataset, DATA_SOURCES_NAME),
    script:
        "../workflow/scripts/preprocess.py"


# A rule of its own because it has one more output: Snakemake's outputs cannot depend on the wildcard.
rule preprocess_text:
    """Tensors and vocabulary of a text dataset (Penn Treebank)."""
    input:
        unpack(lambda wc: data_plan.raw_inputs(DATA_SOURCES, wc.dataset, DATA_SOURCES_NAME)),
    output:
        data="resources/data/{dataset}/data.pt",
        targets="resources/data/{dataset}/targets.pt",
        vocab="resources/data/{dataset}/vocab.txt",
    wildcard_constraints:
        dataset=data_plan.ids_writing(DATA_SOURCES, "data.pt", "targets.pt", "vocab.txt"),
    params:
        source=lambda wc: data_plan.dataset_params(DATA_SOURCES, wc.dataset, DATA_SOURCES_NAME),
    log:
        "logs/data/preprocess/{dataset}.log",
    benchmark:
        "results/benchmarks/data/preprocess/{dataset}.tsv"
    resources:
        mem_mb=lambda wc: data_plan.preprocess_mem_mb(DATA_SOURCES, wc.dataset, DATA_SOURCES_NAME),
    script:
        "../workflow/scripts/preprocess.py"

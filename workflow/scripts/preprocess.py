"""Rules `preprocess_uci`, `preprocess_images`, `preprocess_text`: verified raw files ->
resources/data/<id>/{data,targets}.pt (and the PTB vocabulary)."""

import os

from onepass.datasets import parse_sources, preprocess
from onepass.pipeline.rule_script import run_rule


def work(smk) -> str:
    spec = dict(smk.params.source)
    dataset, sources = spec.pop("dataset"), spec.pop("sources")
    source = parse_sources({"datasets": {dataset: spec}}, sources)[dataset]
    inputs = {key: smk.input[key] for key in source.files}
    preprocess(source, inputs, os.path.dirname(smk.output.data))
    return f"wrote {os.path.dirname(smk.output.data)}"


run_rule(snakemake, work)  # noqa: F821 - injected by Snakemake

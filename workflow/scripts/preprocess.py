"""Rules `preprocess` and `preprocess_text`: verified raw files -> resources/data/<id>/{data,targets}.pt
(and the PTB vocabulary)."""

import os

from onepass.datasets import preprocess
from onepass.datasets.sources import parse_source
from onepass.pipeline.rule_script import run_rule


def work(smk) -> str:
    spec = dict(smk.params.source)
    dataset, sources, where = spec.pop("dataset"), spec.pop("sources"), spec.pop("entry")
    source = parse_source(sources, where, dataset, spec)
    inputs = {key: smk.input[key] for key in source.files}
    preprocess(source, inputs, os.path.dirname(smk.output.data))
    return f"wrote {os.path.dirname(smk.output.data)}"


run_rule(snakemake, work)  # noqa: F821 - injected by Snakemake

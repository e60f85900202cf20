"""Rule `fetch_raw`: copy one raw file (from data_mirror, else the repository's data/) or download it,
and verify its sha256."""

from pathlib import Path

from onepass.datasets import fetch_file
from onepass.datasets.sources import EMBEDDED_ROOT, parse_raw_file
from onepass.pipeline.rule_script import run_rule


def work(smk) -> str:
    entry = dict(smk.params.source)
    dataset, key, sources, where = entry.pop("dataset"), entry.pop("key"), entry.pop("sources"), entry.pop("entry")
    raw = parse_raw_file(sources, dataset, key, entry, where)
    embedded = Path(smk.scriptdir).parents[1] / EMBEDDED_ROOT  # <repository>/data
    fetch_file(raw, smk.output[0], mirror=smk.config.get("data_mirror"), embedded=embedded)
    return f"verified {smk.output[0]}"


run_rule(snakemake, work)  # noqa: F821 - injected by Snakemake

"""The rule files read alike: every job rule logs and is benchmarked, and none names a conda environment.

A job rule is one that runs something (`shell:` or `script:`); the target rules (`all`, `scalars`,
`data`, `hpo`) only collect inputs. Benchmarks live under results/benchmarks/<rule>/, which the
reference comparison of the end-to-end test does not read.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RULE = re.compile(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", re.MULTILINE)


def rule_blocks() -> dict[str, str]:
    blocks = {}
    for path in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        for match in RULE.finditer(path.read_text()):
            blocks[match.group(1)] = match.group(2)
    return blocks


def test_every_job_rule_has_a_log_and_a_benchmark_under_its_name():
    jobs = {name: body for name, body in rule_blocks().items() if re.search(r"^    (shell|script):", body, re.M)}
    assert {"train", "aggregate", "figure", "table", "hypergradient_comparison", "bayesopt"} <= set(jobs)
    for name, body in jobs.items():
        assert re.search(r"^    log:", body, re.M), f"rule {name}: no log"
        benchmark = re.search(r"^    benchmark:\n\s+\"([^\"]+)\"", body, re.M)
        assert benchmark, f"rule {name}: no benchmark"
        assert benchmark.group(1).startswith("results/benchmarks/"), (name, benchmark.group(1))


def test_one_rule_writes_the_aggregated_scalars_and_no_rule_names_conda():
    blocks = rule_blocks()
    writers = [name for name, body in blocks.items() if '"results/scalars/{experiment}.parquet"' in body]
    assert writers == ["aggregate"]
    assert not [name for name, body in blocks.items() if re.search(r"^    conda:", body, re.M)]
    assert "ruleorder" not in "".join(p.read_text() for p in (REPO / "rules").glob("*.smk"))


def test_hypergradient_comparison_asks_for_resources():
    body = rule_blocks()["hypergradient_comparison"]
    assert re.search(r"^    threads:", body, re.M)
    assert "mem_mb=" in body and "runtime=" in body

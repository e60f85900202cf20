"""Which processors an experiment's runs were made on, from what each chunk's JSON records.

A seeded run repeats bit for bit only on the same kind of processor (``onepass.training.machine``).
A resumed or cluster-wide run can make its chunks on different machines: the numbers stay valid
(the distributions agree), but a paired seed of two algorithms, or a chunk rerun later, then need
not match bit for bit. Nothing about that is wrong enough to refuse, and heterogeneous cluster nodes
are normal, so it is made visible instead: aggregation logs the processors and warns when they
differ, and a reproduction manifest lists them with their run counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

#: The label of runs whose chunk JSON names no processor (written before onepass recorded it).
NOT_RECORDED = "not recorded"


def processor_label(summary: Mapping[str, Any]) -> str:
    """``"<cpu> (<kernel level>)"``, plus ``" + <gpu>"`` for a GPU run, from a chunk JSON's ``environment``."""
    environment = summary.get("environment")
    if not isinstance(environment, Mapping) or not environment.get("cpu"):
        return NOT_RECORDED
    label = f"{environment['cpu']} ({environment.get('cpu_capability') or 'kernel level not recorded'})"
    return f"{label} + {environment['gpu']}" if environment.get("gpu") else label


def runs_per_processor(summaries: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many runs each processor made, most runs first (ties by name)."""
    counts: Counter[str] = Counter()
    for summary in summaries:
        counts[processor_label(summary)] += len(summary.get("runs") or [])
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def describe_processors(counts: Mapping[str, int]) -> str:
    """``"AMD EPYC (AVX2): 180 runs"``, the processors joined by ``"; "``."""
    return "; ".join(f"{label}: {runs} run{'s' if runs != 1 else ''}" for label, runs in counts.items())


def mixed_processors(experiment: str, counts: Mapping[str, int]) -> str | None:
    """A warning when ``counts`` names more than one processor (or some runs name none), else None."""
    if len(counts) < 2:
        return None
    return (
        f"experiment {experiment}: runs were made on {len(counts)} kinds of processor ({describe_processors(counts)}). "
        "A seed's result repeats bit for bit only on the same kind: elsewhere training amplifies last-bit "
        "differences, so single runs can differ while their distributions agree. For bit-identical, "
        "paired results, make every chunk on one kind of processor."
    )

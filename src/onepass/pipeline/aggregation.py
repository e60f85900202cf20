"""One aggregation rule for every experiment: which files it reads and which reader turns them into chunks.

``results/scalars/<exp>.parquet`` and ``<exp>_final.csv`` are made by one rule, ``aggregate``
(rules/aggregate.smk), whatever the experiment is: training chunks, BayesOpt repetitions or Ray
searches. This module is its plan: :func:`aggregation_plan` maps every aggregated experiment to its
source kind and input files (from the training plan and the black-box plans, computed once when
the workflow is parsed), and :func:`aggregate_experiment` reads the files of one kind into chunks
and hands them to the one aggregator, ``onepass.records.aggregate.aggregate_chunks``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from .plan import chunk_outputs

#: The kinds of experiments whose outputs are aggregated, and the files each job writes.
SOURCE_KINDS = ("train", "bayesopt", "ray")


def _pairs(stems: Sequence[str]) -> list[str]:
    return [f"{stem}.{ext}" for stem in stems for ext in ("parquet", "json")]


def aggregation_plan(
    plan: Mapping[str, Any], bayesopt: Mapping[str, Any], ray: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """``{experiment: {"kind": ..., "inputs": [files]}}`` for every experiment whose scalars a job makes.

    ``plan`` is the training plan (onepass.pipeline.plan.build_plan), ``bayesopt`` and ``ray`` the
    enabled black-box experiments (onepass.pipeline.hpo); an experiment name is in at most one.
    """
    out: dict[str, dict[str, Any]] = {}
    for name in plan:
        out[name] = {"kind": "train", "inputs": chunk_outputs(dict(plan), name)}
    for name, entry in bayesopt.items():
        out[name] = {"kind": "bayesopt", "inputs": _pairs([f"results/runs/{name}/BayesOpt/{r}" for r in entry["reps"]])}
    for name, entry in ray.items():
        out[name] = {"kind": "ray", "inputs": _pairs([f"results/ray/{name}/{s}" for s in entry["searches"]])}
    return out


def aggregate_experiment(
    kind: str,
    files: Sequence[str | os.PathLike],
    experiment: str,
    parquet_out: str | os.PathLike,
    final_out: str | os.PathLike,
    algorithm_order: Sequence[str] | None = None,
) -> dict[str, int]:
    """Aggregate one experiment's files with the reader of its ``kind``; returns counts for the log."""
    if kind == "train":
        from ..records.aggregate import aggregate

        return aggregate(files, experiment, parquet_out, final_out, algorithm_order)
    if kind == "bayesopt":
        from ..baselines.bayesopt.aggregate import aggregate_bayesopt

        return aggregate_bayesopt(files, experiment, parquet_out, final_out)
    if kind == "ray":
        from ..baselines.raytune.aggregate import aggregate_ray

        return aggregate_ray(files, experiment, parquet_out, final_out)
    raise ValueError(f"aggregate {experiment}: unknown source kind {kind!r} (known: {', '.join(SOURCE_KINDS)})")

"""``python -m onepass.baselines.raytune run ...`` (one search) and ``... aggregate ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ...records.aggregate import add_aggregate_arguments
from ...training.config import add_set_argument
from .aggregate import aggregate_ray
from .names import ALGORITHMS, SCHEDULERS
from .search import run_search


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m onepass.baselines.raytune",
        description="ASHA / PBT baselines with Ray Tune (needs the `ray` extra).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="one search (scheduler x algorithm) -> OUT.parquet + OUT.json")
    run.add_argument("--dataset-config", required=True, help="a packaged dataset id or a YAML file")
    run.add_argument("--scheduler", required=True, help=" or ".join(SCHEDULERS))
    run.add_argument("--algorithm", required=True, help=" or ".join(ALGORITHMS))
    run.add_argument("--num-samples", type=int, required=True, help="trials (PBT: the population)")
    run.add_argument("--max-steps", type=int, default=4000, help="weight steps of a full trial (default %(default)s)")
    run.add_argument("--perturbation-interval", type=int, default=100, help="PBT, in weight steps (%(default)s)")
    run.add_argument("--grace-period", type=int, default=None, help="ASHA, in weight steps (default: one window)")
    run.add_argument("--reduction-factor", type=float, default=4, help="ASHA (default %(default)s)")
    run.add_argument("--quantile-fraction", type=float, default=0.25, help="PBT (default %(default)s)")
    run.add_argument("--out", required=True, help="OUT.parquet (OUT.json beside it)")
    run.add_argument("--data-dir", default="resources/data", help="folder holding <dataset>/{data,targets}.pt")
    run.add_argument("--seed", type=int, default=0, help="seeds Ray's sampling of trial configs (default 0)")
    run.add_argument("--num-cpus", type=int, default=None, help="CPUs given to Ray (default: all)")
    run.add_argument("--max-concurrent", type=int, default=0, help="limit concurrent trials (0: Ray decides)")
    run.add_argument("--experiment", default=None, help="experiment name recorded in the JSON")
    add_set_argument(run, "training overrides (as onepass train)")
    agg = sub.add_parser("aggregate", help="search outputs -> results/scalars-style parquet + final CSV")
    add_aggregate_arguments(agg, "files", "trial")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ...records.aggregate import AggregationError
    from ...training.config import parse_assignment

    try:
        if args.command == "aggregate":
            counts = aggregate_ray(args.files, args.experiment, args.parquet, args.final)
            print(f"{args.experiment}: {counts['searches']} searches, {counts['finished_trials']} finished trials")
            return 0
        payload = run_search(
            args.dataset_config,
            args.scheduler,
            args.algorithm,
            args.out,
            num_samples=args.num_samples,
            max_steps=args.max_steps,
            perturbation_interval=args.perturbation_interval,
            grace_period=args.grace_period,
            reduction_factor=args.reduction_factor,
            quantile_fraction=args.quantile_fraction,
            data_dir=args.data_dir,
            overrides=dict(parse_assignment(text) for text in args.set),
            seed=args.seed,
            num_cpus=args.num_cpus,
            max_concurrent=args.max_concurrent,
            experiment=args.experiment,
        )
    except (ValueError, OSError, AggregationError) as error:  # config, data, output: one line
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"{payload['name']}: {payload['n_trials']} trials, {payload['n_reached_max_steps']} reached "
        f"{args.max_steps} steps, {payload['n_restored_from_other_trials']} restored from other trials"
    )
    return 0

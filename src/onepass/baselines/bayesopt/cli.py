"""``python -m onepass.baselines.bayesopt run ...`` (one repetition) and ``... aggregate ...``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ...records.aggregate import add_aggregate_arguments
from ...training.config import add_set_argument
from .aggregate import aggregate_bayesopt
from .search import run_bayesopt
from .space import DEFAULT_BOUNDS, DEFAULT_KAPPA, BayesOptError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m onepass.baselines.bayesopt",
        description="Bayesian-optimisation baseline: one repetition of random + GP-guided trainings.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="one repetition -> OUT.parquet + OUT.json",
        description="Run one BayesOpt repetition (each trial a Random_Validation training).",
    )
    run.add_argument("--dataset-config", required=True, help="a packaged dataset id or a YAML file")
    run.add_argument("--repetition", type=int, required=True, help="repetition index (seeds the optimiser)")
    run.add_argument("--random-trials", type=int, default=5, help="random initial trials (default %(default)s)")
    run.add_argument("--guided-trials", type=int, default=25, help="GP-guided trials (default %(default)s)")
    run.add_argument("--out", required=True, help="OUT.parquet (OUT.json beside it)")
    run.add_argument("--data-dir", default="resources/data", help="folder holding <dataset>/{data,targets}.pt")
    run.add_argument("--device", default="auto", help="cpu, cuda or auto (default %(default)s)")
    run.add_argument("--experiment", default=None, help="experiment name recorded in the JSON")
    run.add_argument("--tensorboard-dir", default=None, help="also write TensorBoard events to DIR/trial<k>/")
    run.add_argument("--penalty", type=float, default=None, help="objective of a diverged trial is -PENALTY")
    run.add_argument("--kappa", type=float, default=DEFAULT_KAPPA, help="UCB exploration (default %(default)s)")
    run.add_argument(
        "--bounds", default=None, help="JSON, e.g. '{\"lr_log10\": [-6, -1]}' (keys: " + ", ".join(DEFAULT_BOUNDS) + ")"
    )
    add_set_argument(run, "training overrides (as onepass train)")
    run.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads for torch (default: $OMP_NUM_THREADS when set, else 1; 0: every core)",
    )
    run.add_argument("--quiet", action="store_true", help="no per-trial lines on stderr")
    agg = sub.add_parser("aggregate", help="repetition files -> results/scalars-style parquet + final CSV")
    add_aggregate_arguments(agg, "files", "trial")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ...records.aggregate import AggregationError

    try:
        if args.command == "aggregate":
            counts = aggregate_bayesopt(args.files, args.experiment, args.parquet, args.final)
            print(f"{args.experiment}: {counts['repetitions']} repetitions, {counts['trials']} trials")
            return 0
        payload = _run(args)
    except (ValueError, OSError, AggregationError) as error:  # config, data, output: one line
        print(f"error: {error}", file=sys.stderr)
        return 2
    best = payload["best"]
    print(f"repetition {args.repetition}: best trial {best['trial']} objective {best['objective']}")
    return 0


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from ...training.chunk import set_threads

    try:
        set_threads(args.threads)
    except ValueError as error:
        raise BayesOptError(str(error)) from None
    return run_bayesopt(
        args.dataset_config,
        args.repetition,
        args.random_trials,
        args.guided_trials,
        data_dir=args.data_dir,
        out=args.out,
        device=args.device,
        overrides=args.set,
        bounds=_parse_bounds(args.bounds),
        penalty=args.penalty,
        kappa=args.kappa,
        experiment=args.experiment,
        tensorboard_dir=args.tensorboard_dir,
        progress=not args.quiet,
    )


def _parse_bounds(text: str | None) -> dict[str, Any] | None:
    """``--bounds`` JSON -> a dict (or None)."""
    try:
        bounds = json.loads(text) if text else None
    except json.JSONDecodeError as error:
        raise BayesOptError(f"--bounds: not valid JSON ({error})") from None
    if bounds is not None and not isinstance(bounds, dict):
        raise BayesOptError('--bounds: must be a JSON object like {"lr_log10": [-6, -1]}')
    return bounds

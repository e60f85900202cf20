"""Command line: ``python -m onepass train ...`` (what the pipeline's training jobs run)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from .training.algorithms import ALGORITHMS
from .training.config import ConfigError, add_set_argument, package_dataset_ids
from .training.settings import help_lines

TRAIN_EPILOG = f"""\
--set keys (values are YAML; dotted keys reach into sections), with their defaults
(null: from the dataset config, or none); the paper's symbol in brackets:
{chr(10).join(help_lines())}

Algorithms: {", ".join(ALGORITHMS)}
Outputs: OUT.parquet (seed, step, tag, value, wall_time) and OUT.json (per-seed summary), written
atomically; OUT may also be a folder (scalars.parquet, summary.json inside).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onepass",
        description="One-pass hyperparameter optimisation by implicit differentiation (Clarke et al., ICLR 2022).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train",
        help="train seeds of one algorithm on one dataset",
        description="Train several seeds of one algorithm in one process; write one parquet + one JSON.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "--dataset-config",
        required=True,
        help=f"a packaged dataset id ({', '.join(package_dataset_ids())}) or a YAML file",
    )
    train.add_argument("--algorithm", required=True, help="algorithm name (list below)")
    train.add_argument("--seeds", required=True, help="seeds to run: 0-19, 0,3,5 or 7")
    train.add_argument("--out", required=True, help="output path OUT.parquet (OUT.json beside it) or a folder")
    train.add_argument(
        "--data-dir", default="resources/data", help="folder holding <dataset>/{data,targets}.pt (default: %(default)s)"
    )
    train.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: %(default)s)")
    train.add_argument("--tensorboard-dir", default=None, help="also write TensorBoard events to DIR/seed<k>/")
    train.add_argument("--experiment", default=None, help="experiment name recorded in the JSON")
    train.add_argument(
        "--init-weights", default=None, help="start from this model state dict (torch.save of model.state_dict())"
    )
    add_set_argument(train, "configuration overrides (see below); may be repeated, later values win")
    train.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads for torch. Default: $OMP_NUM_THREADS when set (Snakemake and SLURM jobs set it), "
        "else 1: the paper's small models run fastest on one thread, and several runs side by side on "
        "all cores each are 3-5x slower. 0: torch's own choice (every core), for large models run alone",
    )
    train.add_argument(
        "--checkpoint-every",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="checkpoint to OUT.ckpt this often (0: never periodically); SIGTERM, SIGUSR1 and Ctrl-C always "
        "checkpoint at the end of the running hyperparameter window; rerunning resumes (default %(default)s)",
    )
    train.add_argument("--keep-checkpoint", action="store_true", help="keep OUT.ckpt after the chunk completes")
    train.add_argument(
        "--overwrite", action="store_true", help="replace OUT.parquet/OUT.json if they exist (default: refuse)"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    sub.add_parser("algorithms", help="list the algorithms")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "algorithms":
        for name, algorithm in ALGORITHMS.items():
            print(f"{name:45s} {algorithm.description}")
        return 0
    from .io_utils import OutputError
    from .training.checkpoint import Preempted
    from .training.chunk import set_threads, train_chunk
    from .training.data import DataError
    from .training.seeds import parse_seeds

    try:
        set_threads(args.threads)
        seeds = parse_seeds(args.seeds)
        results = train_chunk(
            args.dataset_config,
            args.algorithm,
            seeds,
            args.out,
            data_dir=args.data_dir,
            device=args.device,
            overrides=args.set,
            tensorboard_dir=args.tensorboard_dir,
            experiment=args.experiment,
            init_weights=args.init_weights,
            progress=not args.quiet,
            checkpoint_every=args.checkpoint_every if args.checkpoint_every != 0 else None,
            keep_checkpoint=args.keep_checkpoint,
            overwrite=args.overwrite,
        )
    except Preempted as stop:
        print(f"interrupted: {stop}", file=sys.stderr)
        return stop.exit_status
    except KeyboardInterrupt:
        print("interrupted before a checkpoint could be saved: no output was written", file=sys.stderr)
        return 128 + signal.SIGINT
    except (ConfigError, DataError, OutputError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    diverged = sum(r.status != "ok" for r in results)
    print(f"{args.algorithm}: {len(results)} runs, {diverged} diverged", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

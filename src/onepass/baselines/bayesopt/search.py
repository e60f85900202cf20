"""Bayesian optimisation baseline: one repetition = 5 random + 25 GP-guided full trainings.

The paper compares its one-pass methods with a black-box optimiser that needs many complete
trainings. Each trial here is a ``Random_Validation`` run whose
*initial* (and constant) lr, weight decay and momentum are proposed by a Gaussian-process optimiser
(``bayesian-optimization`` 3.x: Matern-2.5 GP, normalised targets, UCB with kappa = 2.576, the
package defaults the authors also used). The objective maximised is minus the final loss on the whole
validation set (normalised MSE for UCI, cross-entropy otherwise).

A trial that diverges (non-finite final validation loss) is scored with a fixed, finite penalty
instead of crashing the repetition: the authors' constants (Energy 150, Kin8nm 0.1, Power 400,
Fashion-MNIST 3) are the defaults. They are on a different scale from the objective (kept for fidelity,
docs/FIDELITY.md); pass ``penalty`` to change them.

Seeding: the repetition index seeds the optimiser's random state, and trial ``k`` of repetition ``r``
trains with seed ``r * 1000 + k`` (initial weights and data order), so every trial differs but a
repetition is reproducible end to end.

Outputs (``OUT.parquet`` + ``OUT.json``, written atomically):

* the parquet is a chunk table (docs/CONTRACTS.md) with ``seed`` = repetition and the trials
  concatenated: trial ``k``'s per-step tags are shifted by ``k * (T*H + 1)`` and its ``Last_*`` tags
  (indexed by hyperparameter step) by ``k * H``. An extra ``trial`` column names the trial of every
  row, and three tags are logged once per trial at its final step: ``BayesOpt/Trial`` (k),
  ``BayesOpt/Objective`` and ``BayesOpt/Best_Objective`` (running maximum). Wall times are the real
  clock, so the gaps between trials include the optimiser's own time, as in the paper's curves.
* the JSON has one ``runs`` entry per trial (the usual run summary plus ``trial``, ``training_seed``,
  ``kind``, ``params``, ``objective``, ``penalised``, ``suggest_seconds``) and a ``best`` block: the
  trial with the best objective, and ``oracle_best_test`` = the lowest test metric seen at any step of
  any trial (how the paper summarised BayesOpt: selected by *test* loss, an oracle; docs/FIDELITY.md).

``aggregate_bayesopt`` turns the repetition files of an experiment into the usual
``results/scalars/<exp>.parquet`` / ``<exp>_final.csv`` with algorithm ``BayesOpt``; the final CSV has
one row per trial plus a ``trial`` column, which ``onepass.analysis.loading.collapse_trials`` folds
into one row per repetition.

Command line: ``python -m onepass.baselines.bayesopt run ...`` and ``... aggregate ...``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Inner algorithm of every trial (the authors' ``Random_Validation_BayesOpt``).
INNER_ALGORITHM = "Random_Validation"
#: Name of the black-box algorithm in the aggregated tables (docs/CONTRACTS.md).
ALGORITHM = "BayesOpt"

#: Search space in the optimiser's coordinates: log10 lr, log10 weight decay, natural momentum.
#: Momentum stays strictly inside (0, 1) so that it has a finite logit (as in the authors' bounds).
DEFAULT_BOUNDS: dict[str, tuple[float, float]] = {
    "lr_log10": (-6.0, -1.0),
    "weight_decay_log10": (-7.0, -2.0),
    "momentum": (1e-6, 1.0 - 1e-6),
}

#: Objective assigned to a diverged trial is ``-penalty``; the authors' constants per dataset.
DEFAULT_PENALTIES: dict[str, float] = {
    "uci_energy": 150.0,
    "uci_kin8nm": 0.1,
    "uci_power": 400.0,
    "fashion_mnist": 3.0,
}

#: Upper-confidence-bound exploration weight (bayes_opt's default, also the authors').
DEFAULT_KAPPA = 2.576

#: Training seed of trial k of repetition r: r * SEED_STRIDE + k.
SEED_STRIDE = 1000

TRIAL_TAGS = ("BayesOpt/Trial", "BayesOpt/Objective", "BayesOpt/Best_Objective")


class BayesOptError(ValueError):
    """A bad setting for a BayesOpt repetition; the message names the key."""


def default_penalty(dataset: str) -> float:
    """The authors' penalty for a diverged trial on ``dataset`` (error if they had none)."""
    if dataset not in DEFAULT_PENALTIES:
        raise BayesOptError(
            f"penalty: no default penalty for dataset '{dataset}' (defaults exist for "
            f"{', '.join(DEFAULT_PENALTIES)}); set one explicitly"
        )
    return DEFAULT_PENALTIES[dataset]


def check_bounds(bounds: Mapping[str, Sequence[float]] | None) -> dict[str, tuple[float, float]]:
    """Default bounds updated by ``bounds``; each must be a finite [low, high] with low < high."""
    out = dict(DEFAULT_BOUNDS)
    for key, value in (bounds or {}).items():
        if key not in DEFAULT_BOUNDS:
            raise BayesOptError(f"bounds.{key}: unknown; allowed: {', '.join(DEFAULT_BOUNDS)}")
        try:
            low, high = (float(v) for v in value)
        except (TypeError, ValueError):
            raise BayesOptError(f"bounds.{key}: must be [low, high], got {value!r}") from None
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise BayesOptError(f"bounds.{key}: must be finite with low < high, got {value!r}")
        out[key] = (low, high)
    low, high = out["momentum"]
    if low < 0 or high >= 1:
        raise BayesOptError(f"bounds.momentum: must lie within [0, 1), got {[low, high]}")
    return out


def trial_seed(repetition: int, trial: int) -> int:
    """Training seed of one trial (distinct per trial, reproducible per repetition)."""
    return repetition * SEED_STRIDE + trial


def natural_hyperparameters(params: Mapping[str, float]) -> dict[str, float]:
    """Optimiser coordinates -> the trainer's explicit initial values (natural units)."""
    return {
        "lr": 10.0 ** float(params["lr_log10"]),
        "weight_decay": 10.0 ** float(params["weight_decay_log10"]),
        "momentum": float(params["momentum"]),
    }


def _jsonable(value: Any) -> Any:
    """NaN/inf -> null and numpy scalars -> Python numbers, so the JSON stays standard."""
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _metric_tag(task: str) -> str:
    """The paper's reported test metric per task (what the oracle summary minimises)."""
    return {"regression": "Unnormalised_Loss/Test", "language_model": "Perplexity/Test"}.get(task, "Loss/Test")


def run_bayesopt(
    dataset_config: str | Path | dict[str, Any],
    repetition: int,
    n_random: int = 5,
    n_guided: int = 25,
    data_dir: str | Path = "resources/data",
    out: str | Path | None = None,
    device: str = "auto",
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    *,
    bounds: Mapping[str, Sequence[float]] | None = None,
    penalty: float | None = None,
    kappa: float = DEFAULT_KAPPA,
    experiment: str | None = None,
    tensorboard_dir: str | Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run one BayesOpt repetition; write ``out`` (.parquet and .json) if given; return the JSON payload.

    ``overrides`` are training settings (as ``onepass train --set``), applied to every trial before
    the proposed lr/weight_decay/momentum. lr clipping is off unless the overrides set it, as in the
    authors' BayesOpt runs. The payload's ``frame`` key (not written to the JSON) holds the table.
    ``tensorboard_dir``: also write each trial's TensorBoard events to ``DIR/trial<k>/`` (own steps).
    """
    import torch
    from bayes_opt import BayesianOptimization
    from bayes_opt.acquisition import UpperConfidenceBound

    from ..training.algorithms import get_algorithm, resolve_config
    from ..training.chunk import output_paths, resolve_device, scalars_writer, write_chunk
    from ..training.config import build_config, parse_assignment
    from ..training.data import prepare_data
    from ..training.run import TrainingRun

    if isinstance(repetition, bool) or not isinstance(repetition, int) or repetition < 0:
        raise BayesOptError(f"repetition: must be a non-negative integer, got {repetition!r}")
    for key, value in (("random_trials", n_random), ("guided_trials", n_guided)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BayesOptError(f"{key}: must be a non-negative integer, got {value!r}")
    if n_random + n_guided < 1:
        raise BayesOptError("random_trials + guided_trials: at least one trial is needed")
    if n_random + n_guided > SEED_STRIDE:
        raise BayesOptError(f"random_trials + guided_trials: at most {SEED_STRIDE} trials per repetition")
    space = check_bounds(bounds)

    if overrides is None:
        user: dict[str, Any] = {}
    elif isinstance(overrides, Mapping):
        user = dict(overrides)
    else:
        user = dict(parse_assignment(text) for text in overrides)
    for key in ("lr", "weight_decay", "momentum"):
        if key in user:
            raise BayesOptError(f"overrides.{key}: set by the optimiser; use bounds instead")
    has_clip = "clipping.lr" in user or isinstance(user.get("clipping"), Mapping)
    base_overrides = user if has_clip else {**user, "clipping.lr": None}

    algorithm = get_algorithm(INNER_ALGORITHM)
    base = resolve_config(build_config(dataset_config, base_overrides), algorithm)
    dataset = base["dataset"]
    if penalty is None:
        penalty = default_penalty(dataset)
    if not (isinstance(penalty, (int, float)) and math.isfinite(penalty)):
        raise BayesOptError(f"penalty: must be a finite number, got {penalty!r}")
    penalty = float(penalty)
    torch_device = resolve_device(device)
    data = prepare_data(base, data_dir, algorithm.keep_validation, torch_device)
    T, H = base["network_weight_steps"], base["hyperparameter_steps"]
    metric = _metric_tag(base["task"])

    optimiser = BayesianOptimization(
        f=None,
        pbounds=space,
        acquisition_function=UpperConfidenceBound(kappa=kappa),  # seeded through random_state below
        random_state=repetition,
        verbose=0,
        allow_duplicate_points=True,
    )
    frames: list[pd.DataFrame] = []
    runs: list[dict[str, Any]] = []
    best_objective = -math.inf
    started = time.perf_counter()
    n_trials = n_random + n_guided
    for trial in range(n_trials):
        t0 = time.perf_counter()
        kind = "random" if trial < n_random else "guided"
        params = optimiser.random_sample(1)[0] if kind == "random" else optimiser.suggest()
        params = {key: float(params[key]) for key in space}
        suggest_seconds = time.perf_counter() - t0
        natural = natural_hyperparameters(params)
        config = build_config(dataset_config, {**base_overrides, **natural})
        seed = trial_seed(repetition, trial)
        tb = Path(tensorboard_dir) / f"trial{trial}" if tensorboard_dir is not None else None
        run = TrainingRun(config, algorithm, seed, data, torch_device, tensorboard_dir=tb)
        result = run.run()
        loss = result.final_full_validation_loss
        penalised = result.status != "ok" or loss is None or not math.isfinite(loss)
        objective = -penalty if penalised else -float(loss)
        optimiser.register(params=params, target=objective)
        best_objective = max(best_objective, objective)

        frame = result.frame.copy()
        per_step = ~frame["tag"].str.startswith("Last_")
        frame["step"] = np.where(per_step, frame["step"] + trial * (T * H + 1), frame["step"] + trial * H)
        frame["seed"] = repetition
        now = time.time()
        final_step = trial * (T * H + 1) + T * H
        extra = pd.DataFrame(
            {
                "seed": repetition,
                "step": final_step,
                "tag": list(TRIAL_TAGS),
                "value": [float(trial), objective, best_objective],
                "wall_time": now,
            }
        )
        frame = pd.concat([frame, extra], ignore_index=True)
        frame["trial"] = trial
        frames.append(frame)
        summary = result.summary()
        summary.update(
            seed=repetition,
            trial=trial,
            training_seed=seed,
            kind=kind,
            params=params,
            objective=objective,
            penalised=penalised,
            suggest_seconds=suggest_seconds,
        )
        runs.append(summary)
        if progress:
            print(
                f"repetition {repetition} trial {trial} ({kind}): lr={natural['lr']:.3g} "
                f"wd={natural['weight_decay']:.3g} m={natural['momentum']:.3f} -> objective {objective:.6g}"
                f"{' (penalty)' if penalised else ''}",
                file=sys.stderr,
            )

    table = pd.concat(frames, ignore_index=True)
    table = table.astype({"seed": "int32", "step": "int32", "trial": "int32", "value": "float64"})
    table = table[["seed", "step", "tag", "value", "wall_time", "trial"]]
    best_trial = int(np.argmax([r["objective"] for r in runs]))
    oracle = table[table["tag"] == metric]
    finite = oracle[np.isfinite(oracle["value"])]
    oracle_row = finite.loc[finite["value"].idxmin()] if len(finite) else None
    payload: dict[str, Any] = {
        "algorithm": ALGORITHM,
        "inner_algorithm": INNER_ALGORITHM,
        "dataset": dataset,
        "experiment": experiment,
        "repetition": repetition,
        "config": base,
        "bayesopt": {
            "package": "bayesian-optimization",
            "version": _bayes_opt_version(),
            "bounds": {k: list(v) for k, v in space.items()},
            "random_trials": n_random,
            "guided_trials": n_guided,
            "acquisition": "UpperConfidenceBound",
            "kappa": kappa,
            "random_state": repetition,
            "objective": "-(final full-validation loss)",
            "penalty": penalty,
            "penalty_rule": "a trial whose final full-validation loss is not finite (or that diverged) scores -penalty",
            "training_seed": f"repetition * {SEED_STRIDE} + trial",
            "step_offsets": f"per-step tags + trial * {T * H + 1}; Last_* tags + trial * {H}",
        },
        "best": {
            "trial": best_trial,
            "objective": runs[best_trial]["objective"],
            "params": runs[best_trial]["params"],
            "final_test": (runs[best_trial]["final"] or {}).get(metric),
            "metric": metric,
            "oracle_best_test": None if oracle_row is None else float(oracle_row["value"]),
            "oracle_best_test_trial": None if oracle_row is None else int(oracle_row["trial"]),
            "oracle_note": "lowest test metric over every logged step of every trial (selected by test: an oracle)",
        },
        "wall_seconds": time.perf_counter() - started,
        "environment": {"torch": torch.__version__, "python": platform.python_version(), "device": str(torch_device)},
        "runs": runs,
    }
    payload = _jsonable(payload)
    if out is not None:
        parquet_path, json_path = output_paths(out)
        write_chunk(parquet_path, json_path, scalars_writer(table), payload)
    payload["frame"] = table
    return payload


def _bayes_opt_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bayesian-optimization")
    except PackageNotFoundError:  # pragma: no cover - installed from source
        return "unknown"


# ------------------------------------------------------------------------------ aggregation
def aggregate_bayesopt(
    files: Sequence[str | Path], experiment: str, parquet_out: str | Path, final_out: str | Path
) -> dict[str, int]:
    """Repetition files of one BayesOpt experiment -> the aggregated long table and final CSV.

    The long table has the usual columns (algorithm ``BayesOpt``, seed = repetition) plus ``trial``;
    the final CSV has one row per trial (usual columns, ``trial`` after ``seed``, one column per final
    tag, ``best:<tag>`` = minimum over that trial's steps).
    """
    import pyarrow as pa

    from ..records.aggregate import (
        FINAL_COLUMNS,
        AggregationError,
        check_pair,
        is_best_tag,
        pair_chunks,
        read_summary,
        run_row,
        write_aggregate,
    )

    pairs = pair_chunks(files)
    if not pairs:
        raise AggregationError(f"experiment {experiment}: no BayesOpt repetition files given")
    tables, rows, seen = [], [], set()
    for parquet, summary_path in pairs:
        summary = read_summary(summary_path)
        check_pair(parquet, summary_path, summary)
        if summary["algorithm"] != ALGORITHM:
            raise AggregationError(f"{summary_path}: algorithm is {summary['algorithm']!r}, not {ALGORITHM!r}")
        try:
            frame = pd.read_parquet(parquet, columns=["seed", "step", "tag", "value", "wall_time", "trial"])
        except Exception as error:  # unreadable or not a BayesOpt table
            raise AggregationError(f"{parquet}: cannot read BayesOpt table: {error}") from None
        frame["tag"] = frame["tag"].astype(str)
        tables.append(frame)
        best = frame[frame["tag"].map(is_best_tag)].groupby(["seed", "trial", "tag"])["value"].min()
        for run in summary["runs"]:
            key = (run["seed"], run["trial"])
            if key in seen:
                raise AggregationError(f"{summary_path}: repetition {key[0]} trial {key[1]} appears twice")
            seen.add(key)
            row = run_row(experiment, ALGORITHM, run)
            row = {**{k: row[k] for k in ("experiment", "algorithm", "seed")}, "trial": run["trial"], **row}
            for (seed, trial, tag), value in best.items():
                if seed == run["seed"] and trial == run["trial"]:
                    row[f"best:{tag}"] = value
            rows.append(row)
    long = pd.concat(tables, ignore_index=True)
    long.insert(0, "algorithm", ALGORITHM)
    long = long.sort_values(["seed", "trial", "wall_time", "step"], kind="stable").reset_index(drop=True)
    table = pa.Table.from_pandas(long, preserve_index=False)
    for name in ("algorithm", "tag"):
        table = table.set_column(table.schema.get_field_index(name), name, table.column(name).dictionary_encode())
    final = pd.DataFrame(rows).sort_values(["seed", "trial"], kind="stable")
    leading = FINAL_COLUMNS[:3] + ["trial"] + FINAL_COLUMNS[3:]
    tags = sorted(c for c in final.columns if c not in leading and not c.startswith("best:"))
    bests = sorted(c for c in final.columns if c.startswith("best:"))
    final = final[leading + tags + bests]
    write_aggregate(table, final, parquet_out, final_out)
    return {"repetitions": len(pairs), "trials": len(final), "rows": table.num_rows}


# ------------------------------------------------------------------------------ command line
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
    run.add_argument(
        "--set",
        nargs="*",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="training overrides (as onepass train)",
    )
    run.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    run.add_argument("--quiet", action="store_true", help="no per-trial lines on stderr")
    agg = sub.add_parser("aggregate", help="repetition files -> results/scalars-style parquet + final CSV")
    agg.add_argument("--experiment", required=True)
    agg.add_argument("--parquet", required=True, help="output long table")
    agg.add_argument("--final", required=True, help="output per-trial CSV")
    agg.add_argument("files", nargs="+", help="repetition .parquet files (the .json beside each is read)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..records.aggregate import AggregationError
    from ..training.chunk import set_threads

    try:
        if args.command == "aggregate":
            counts = aggregate_bayesopt(args.files, args.experiment, args.parquet, args.final)
            print(f"{args.experiment}: {counts['repetitions']} repetitions, {counts['trials']} trials")
            return 0
        try:
            set_threads(args.threads)
        except ValueError as error:
            raise BayesOptError(str(error)) from None
        try:
            bounds = json.loads(args.bounds) if args.bounds else None
        except json.JSONDecodeError as error:
            raise BayesOptError(f"--bounds: not valid JSON ({error})") from None
        if bounds is not None and not isinstance(bounds, dict):
            raise BayesOptError('--bounds: must be a JSON object like {"lr_log10": [-6, -1]}')
        payload = run_bayesopt(
            args.dataset_config,
            args.repetition,
            args.random_trials,
            args.guided_trials,
            data_dir=args.data_dir,
            out=args.out,
            device=args.device,
            overrides=args.set,
            bounds=bounds,
            penalty=args.penalty,
            kappa=args.kappa,
            experiment=args.experiment,
            tensorboard_dir=args.tensorboard_dir,
            progress=not args.quiet,
        )
    except (ValueError, OSError, AggregationError) as error:  # config, data, output: one line
        print(f"error: {error}", file=sys.stderr)
        return 2
    best = payload["best"]
    print(f"repetition {args.repetition}: best trial {best['trial']} objective {best['objective']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

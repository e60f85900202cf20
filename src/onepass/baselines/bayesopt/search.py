"""The search loop of one BayesOpt repetition: propose, train, register; then the outputs.

``n_random`` random proposals, then ``n_guided`` proposals of the GP optimiser (UCB acquisition);
every trial is trained by :mod:`.trial`, and its objective registered with the optimiser before the
next proposal. The trials' rows are concatenated into one chunk table and the summaries into one
JSON payload (:func:`payload`), written together and atomically.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...io_utils import jsonable
from ...records.columns import CHUNK_COLUMNS, TRIAL
from ...training.machine import describe_machine
from .space import ALGORITHM, DEFAULT_KAPPA, INNER_ALGORITHM, SEED_STRIDE, check_bounds, check_counts
from .trial import Setup, prepare, print_progress, train_trial, trial_frame, trial_summary


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
    from bayes_opt import BayesianOptimization
    from bayes_opt.acquisition import UpperConfidenceBound

    from ...training.chunk import output_paths, scalars_writer, write_chunk

    check_counts(repetition, n_random, n_guided)
    space = check_bounds(bounds)
    setup = prepare(dataset_config, repetition, overrides, penalty, data_dir, device, tensorboard_dir)
    optimiser = BayesianOptimization(
        f=None,
        pbounds=space,
        acquisition_function=UpperConfidenceBound(kappa=kappa),  # seeded through random_state below
        random_state=repetition,
        verbose=0,
        allow_duplicate_points=True,
    )
    started = time.perf_counter()
    table, runs = search(setup, optimiser, space, n_random, n_guided, progress)
    settings = {"n_random": n_random, "n_guided": n_guided, "kappa": kappa, "experiment": experiment}
    result = jsonable(payload(setup, space, table, runs, wall_seconds=time.perf_counter() - started, **settings))
    if out is not None:
        parquet_path, json_path = output_paths(out)
        write_chunk(parquet_path, json_path, scalars_writer(table), result)
    result["frame"] = table
    return result


def search(
    setup: Setup, optimiser: Any, space: Mapping[str, Any], n_random: int, n_guided: int, progress: bool
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Every trial in turn; returns (the repetition's table, one summary per trial)."""
    frames: list[pd.DataFrame] = []
    runs: list[dict[str, Any]] = []
    best_objective = -math.inf
    for trial in range(n_random + n_guided):
        t0 = time.perf_counter()
        kind = "random" if trial < n_random else "guided"
        params = optimiser.random_sample(1)[0] if kind == "random" else optimiser.suggest()
        params = {key: float(params[key]) for key in space}
        suggest_seconds = time.perf_counter() - t0
        result, objective, penalised = train_trial(setup, trial, params)
        optimiser.register(params=params, target=objective)
        best_objective = max(best_objective, objective)
        frames.append(trial_frame(setup, result, trial, objective, best_objective))
        scores = {"objective": objective, "penalised": penalised, "suggest_seconds": suggest_seconds}
        summary = trial_summary(setup, result, trial, kind, params, **scores)
        runs.append(summary)
        if progress:
            print_progress(setup.repetition, summary)
    table = pd.concat(frames, ignore_index=True)
    table = table.astype({"seed": "int32", "step": "int32", "trial": "int32", "value": "float64"})
    return table[[*CHUNK_COLUMNS, TRIAL]], runs


def payload(
    setup: Setup,
    space: Mapping[str, Any],
    table: pd.DataFrame,
    runs: list[dict[str, Any]],
    *,
    n_random: int,
    n_guided: int,
    kappa: float,
    experiment: str | None,
    wall_seconds: float,
) -> dict[str, Any]:
    """The repetition's JSON summary: settings, best trial and oracle, timing, environment, trials."""
    T, H = setup.window
    return {
        "algorithm": ALGORITHM,
        "inner_algorithm": INNER_ALGORITHM,
        "dataset": setup.dataset,
        "experiment": experiment,
        "repetition": setup.repetition,
        "config": setup.base,
        "bayesopt": {
            "package": "bayesian-optimization",
            "version": _bayes_opt_version(),
            "bounds": {k: list(v) for k, v in space.items()},
            "random_trials": n_random,
            "guided_trials": n_guided,
            "acquisition": "UpperConfidenceBound",
            "kappa": kappa,
            "random_state": setup.repetition,
            "objective": "-(final full-validation loss)",
            "penalty": setup.penalty,
            "penalty_rule": "a trial whose final full-validation loss is not finite (or that diverged) scores -penalty",
            "training_seed": f"repetition * {SEED_STRIDE} + trial",
            "step_offsets": f"per-step tags + trial * {T * H + 1}; Last_* tags + trial * {H}",
        },
        "best": best_block(table, runs, setup.metric),
        "wall_seconds": wall_seconds,
        "environment": describe_machine(setup.device),
        "runs": runs,
    }


def best_block(table: pd.DataFrame, runs: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The trial with the best objective, and the oracle: the lowest test metric of any step of any trial."""
    best_trial = int(np.argmax([r["objective"] for r in runs]))
    oracle = table[table["tag"] == metric]
    finite = oracle[np.isfinite(oracle["value"])]
    oracle_row = finite.loc[finite["value"].idxmin()] if len(finite) else None
    return {
        "trial": best_trial,
        "objective": runs[best_trial]["objective"],
        "params": runs[best_trial]["params"],
        "final_test": (runs[best_trial]["final"] or {}).get(metric),
        "metric": metric,
        "oracle_best_test": None if oracle_row is None else float(oracle_row["value"]),
        "oracle_best_test_trial": None if oracle_row is None else int(oracle_row["trial"]),
        "oracle_note": "lowest test metric over every logged step of every trial (selected by test: an oracle)",
    }


def _bayes_opt_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bayesian-optimization")
    except PackageNotFoundError:  # pragma: no cover - installed from source
        return "unknown"

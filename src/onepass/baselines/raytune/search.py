"""ASHA and PBT baselines with Ray Tune 2.x (the paper's appendix comparison).

Each Ray trial is one training run on a dataset (the paper: UCI Energy) with initial hyperparameters
drawn by Ray from lr = 10^U(-6,-1), weight decay = 10^U(-7,-2), momentum = U(0, 1). Two inner
algorithms are wrapped:

* ``Random``: the authors' ``Random_TrainingSetOnly``: trains on the training split only (the
  dataset's validation proportion is held out), hyperparameters fixed. Implemented with this
  library's ``Random_Validation`` (same data handling; the validation split is only used for the
  reported ``validation_loss``).
* ``Ours_LR_Momentum``: additionally adapts lr, weight decay and momentum within the trial.

Every hyperparameter window (T weight steps) the trial reports ``weight_steps`` (the time attribute
of both schedulers, in weight steps, so ``max_t`` 4000 = one full training), ``validation_loss``
(whole validation split after the update; NaN -> inf so the schedulers rank it last),
``test_loss``, ``unnormalised_test_loss`` and the current hyperparameters. Reporting once per window
rather than once per weight step (as the authors did) costs a tenth of Ray's per-report overhead and
leaves PBT unchanged (it acts every ``perturbation_interval`` steps, a multiple of T), but moves ASHA's
rungs: with the smallest grace period (one window) they sit at 10, 40, 160, 640, 2560 weight steps
instead of the authors' 1, 4, 16, ..., 1024 (a documented difference: decisions after 1-4 steps of
training are mostly noise). A trial whose training loss becomes non-finite stops.

PBT checkpoints every window (model, HyperSGD and data-stream state, with ``torch.save`` and
``torch.load(weights_only=True)``). On exploitation Ray restarts the trial from the donor's
checkpoint with a perturbed config. Following the authors, each raw initial value (log10 lr,
log10 wd, logit momentum) that changed multiplies the checkpoint's current raw value by new/old
(``Ours``); ``Random``'s fixed values are simply replaced. Counters continue from the checkpoint, and
the trial records ``restored_from`` (the donor's trial id), so exploitation is visible in the results.

Ray is imported lazily: the core install stays lean (``pip install .[ray]`` adds it).

Outputs of one (scheduler, algorithm) search, written atomically:

* ``OUT.parquet``: one row per report of every trial: ``trial`` (index), ``trial_id``, ``wall_time``
  (seconds since the epoch), ``timestamp`` (Ray's), ``iteration`` (= weight steps),
  ``training_iteration``, ``validation_loss``, ``test_loss``, ``unnormalised_test_loss``, ``lr``,
  ``weight_decay``, ``momentum``, ``restored_from``.
* ``OUT.json``: the settings and one summary per trial (config, last report, reached max_steps,
  restores).

``aggregate_ray`` converts these into ``results/scalars/<exp>.parquet`` / ``<exp>_final.csv``
(algorithm ``<ASHA|PBT>_<alg>``, seed = trial index) for the ``AverageResults`` tables; the final
CSV holds only trials that trained for the full ``max_steps``, the paper's selection.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SCHEDULERS = ("ASHA", "PBT")
#: Outer algorithm name -> the library algorithm that trains each trial.
ALGORITHMS = {"Random": "Random_Validation", "Ours_LR_Momentum": "Ours_LR_Momentum"}
MOMENTUM_MAX = 1.0 - 1e-6
#: Momentum used for training never reaches 0 exactly: its logit must exist for Ours.
MOMENTUM_MIN = 1e-6
CHECKPOINT_FILE = "state.pt"
HYPER_COLUMNS = ("lr", "weight_decay", "momentum")
RAW_KEYS = ("lr_log10", "weight_decay_log10", "momentum")
ROW_COLUMNS = [
    "trial",
    "trial_id",
    "wall_time",
    "timestamp",
    "iteration",
    "training_iteration",
    "validation_loss",
    "test_loss",
    "unnormalised_test_loss",
    "lr",
    "weight_decay",
    "momentum",
    "restored_from",
]


class RayTuneError(ValueError):
    """A bad ASHA/PBT setting; the message names the key."""


def require_ray() -> Any:
    """Import Ray Tune or explain how to install it."""
    try:
        import ray  # noqa: F401
        from ray import tune
    except ImportError:
        raise RayTuneError("ray is not installed: install the optional extra with `pip install .[ray]`") from None
    return tune


def algorithm_name(scheduler: str, algorithm: str) -> str:
    """Name in the aggregated tables, e.g. ``ASHA_Ours_LR_Momentum`` (docs/CONTRACTS.md)."""
    return f"{scheduler}_{algorithm}"


def normalise_scheduler(name: str) -> str:
    upper = str(name).upper()
    if upper not in SCHEDULERS:
        raise RayTuneError(f"scheduler: unknown '{name}'; allowed: {', '.join(SCHEDULERS)}")
    return upper


def _raw(key: str, value: float) -> float:
    """Raw (optimised) coordinate of a trial config value: log10 already; momentum -> logit."""
    if key == "momentum":
        m = min(max(value, MOMENTUM_MIN), MOMENTUM_MAX)
        return math.log(m) - math.log1p(-m)
    return float(value)


def trial_hyperparameters(config: Mapping[str, Any]) -> dict[str, float]:
    """Trial config -> natural initial values; lr kept inside the clipping range [1e-10, 1].

    PBT's x1.2 / x0.8 perturbations act on log10 values without bounds (the authors' code then
    crashed on an out-of-range lr); clamping keeps such trials alive (docs/FIDELITY.md).
    """
    return {
        "lr": 10.0 ** min(max(float(config["lr_log10"]), -10.0), 0.0),
        "weight_decay": 10.0 ** float(config["weight_decay_log10"]),
        "momentum": min(max(float(config["momentum"]), MOMENTUM_MIN), MOMENTUM_MAX),
    }


def _evaluate(run: Any) -> dict[str, float]:
    """Validation and test metrics after the latest update (eval mode, no graph)."""
    import torch

    model = run.model
    was_training = model.training
    model.eval()
    with torch.no_grad():
        val = run.task.evaluate(model, run.data.validation)["Loss"] if run.data.validation is not None else math.nan
        test = run.task.evaluate(model, run.data.test)
    model.train(was_training)
    out = {"validation_loss": val if math.isfinite(val) else math.inf, "test_loss": test["Loss"]}
    out["unnormalised_test_loss"] = test.get("Unnormalised_Loss", test["Loss"])
    return out


def _save_state(run: Any, folder: Path, trial_id: str, init_raw: dict[str, float], steps: int) -> None:
    import torch

    state = {
        "model": run.model.state_dict(),
        "engine": run.engine.state_dict(),
        "train_stream": run.train_stream.state_dict(),
        "val_stream": None if run.val_stream is None else run.val_stream.state_dict(),
        "window": run.window,
        "weight_steps": steps,
        "init_raw": dict(init_raw),
        "owner": trial_id,
    }
    torch.save(state, folder / CHECKPOINT_FILE)


def _restore(run: Any, state: dict[str, Any], natural: dict[str, float], init_raw: dict[str, float]) -> None:
    """Load a (possibly donor's) checkpoint into ``run``, applying PBT's perturbation of the config."""
    run.model.load_state_dict(state["model"])
    engine = state["engine"]
    old_raw = state["init_raw"]
    raw = dict(engine["raw"])
    names = {"lr": "lr_log10", "weight_decay": "weight_decay_log10", "momentum": "momentum"}
    for name, value in raw.items():  # tuned hyperparameters: scale by new/old initial raw value
        key = names[name]
        old, new = old_raw[key], init_raw[key]
        if new != old:  # the authors' multiplicative rule; a shift where the old value is ~0
            raw[name] = value * (new / old) if abs(old) > 1e-12 else value + (new - old)
    engine = {**engine, "raw": raw, "fixed": {k: natural[k] for k in engine["fixed"]}}
    run.engine.load_state_dict(engine)
    run.train_stream.load_state_dict(state["train_stream"])
    if run.val_stream is not None and state["val_stream"] is not None:
        run.val_stream.load_state_dict(state["val_stream"])
    run.window = int(state["window"])


def _trainable(config: dict[str, Any], settings: dict[str, Any]) -> None:
    """One Ray trial: train window by window, report, checkpoint (PBT), continue from checkpoints."""
    import torch
    from ray import tune

    torch.set_num_threads(1)
    from ..training.algorithms import get_algorithm, resolve_config
    from ..training.config import build_config
    from ..training.data import prepare_data
    from ..training.run import TrainingRun

    natural = trial_hyperparameters(config)
    init_raw = {key: _raw(key, float(config[key])) for key in RAW_KEYS}
    algorithm = get_algorithm(ALGORITHMS[settings["algorithm"]])
    overrides = {**settings["overrides"], **natural}
    cfg = build_config(settings["dataset_config"], overrides)
    T = cfg["network_weight_steps"]
    cfg["hyperparameter_steps"] = max(1, math.ceil(settings["max_steps"] / T))
    device = torch.device("cpu")
    data = prepare_data(resolve_config(cfg, algorithm), settings["data_dir"], algorithm.keep_validation, device)
    run = TrainingRun(cfg, algorithm, int(config["seed"]), data, device)
    trial_id = tune.get_context().get_trial_id()
    steps = 0
    restored_from = ""
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = torch.load(Path(folder) / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
        _restore(run, state, natural, init_raw)
        steps = int(state["weight_steps"])
        restored_from = state["owner"] if state["owner"] != trial_id else ""
    save = settings["scheduler"] == "PBT"
    while steps < settings["max_steps"] and not run.finished:
        run.run_window()
        steps += T
        metrics: dict[str, Any] = {"weight_steps": steps, "wall_time": time.time()}
        if run.status != "ok":
            metrics.update(validation_loss=math.inf, test_loss=math.nan, unnormalised_test_loss=math.nan)
        else:
            metrics.update(_evaluate(run))
        metrics.update(run.engine.hyperparameters)
        metrics["restored_from"] = restored_from
        if save and run.status == "ok":
            with tempfile.TemporaryDirectory() as folder:
                _save_state(run, Path(folder), trial_id, init_raw, steps)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
        else:
            tune.report(metrics)
        if run.status != "ok":
            return


def search_space(tune: Any) -> dict[str, Any]:
    """Initial values (and, for PBT, the resampling distributions), as the authors' Ray space."""
    return {
        "lr_log10": tune.uniform(-6.0, -1.0),
        "weight_decay_log10": tune.uniform(-7.0, -2.0),
        "momentum": tune.uniform(0.0, MOMENTUM_MAX),
        "seed": tune.randint(0, 2**31 - 1),
    }


def _explore(config: dict[str, Any]) -> dict[str, Any]:
    """Keep PBT's perturbed momentum inside [0, 1) (the authors clipped it to [0, 1 - 1e-6])."""
    config["momentum"] = min(max(float(config["momentum"]), 0.0), MOMENTUM_MAX)
    return config


def run_search(
    dataset_config: str | Path,
    scheduler: str,
    algorithm: str,
    out: str | Path,
    *,
    num_samples: int,
    max_steps: int = 4000,
    perturbation_interval: int = 100,
    grace_period: int | None = None,
    reduction_factor: float = 4,
    quantile_fraction: float = 0.25,
    data_dir: str | Path = "resources/data",
    overrides: Mapping[str, Any] | None = None,
    seed: int = 0,
    num_cpus: int | None = None,
    max_concurrent: int = 0,
    experiment: str | None = None,
) -> dict[str, Any]:
    """Run one ASHA or PBT search; write ``out`` (.parquet + .json) atomically; return the JSON payload.

    ``quantile_fraction`` is PBT's share of trials that exploit / are exploited (Ray's default 0.25).
    ``grace_period`` defaults to one hyperparameter window (the smallest unit reported; Ray's
    default of 1 iteration). ``seed`` fixes Ray's sampling of the trial configs and seeds.
    """
    tune = require_ray()
    import ray
    import torch
    from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from ..training.algorithms import get_algorithm, resolve_config
    from ..training.chunk import output_paths, write_chunk
    from ..training.config import build_config
    from ..training.data import prepare_data

    scheduler = normalise_scheduler(scheduler)
    if algorithm not in ALGORITHMS:
        raise RayTuneError(f"algorithm: unknown '{algorithm}'; allowed: {', '.join(ALGORITHMS)}")
    for key, value in (("num_samples", num_samples), ("max_steps", max_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RayTuneError(f"{key}: must be a positive integer, got {value!r}")
    user = dict(overrides or {})
    for key in ("lr", "weight_decay", "momentum", "hyperparameter_steps"):
        if key in user:
            raise RayTuneError(f"overrides.{key}: set by the search (use max_steps for the length)")
    config = build_config(dataset_config, user)  # fail early, with the key named, on a bad override
    inner = get_algorithm(ALGORITHMS[algorithm])
    prepare_data(resolve_config(config, inner), data_dir, inner.keep_validation, torch.device("cpu"))  # data exists
    T = config["network_weight_steps"]
    if scheduler == "PBT" and (perturbation_interval < T or perturbation_interval % T):
        raise RayTuneError(
            f"perturbation_interval: must be a positive multiple of network_weight_steps ({T}), "
            f"got {perturbation_interval!r}"
        )
    data_path = Path(data_dir).resolve()
    settings = {
        "dataset_config": str(dataset_config),
        "algorithm": algorithm,
        "scheduler": scheduler,
        "max_steps": max_steps,
        "data_dir": str(data_path),
        "overrides": user,
    }
    space = search_space(tune)
    if scheduler == "ASHA":
        sched = ASHAScheduler(
            time_attr="weight_steps",
            max_t=max_steps,
            grace_period=grace_period or T,
            reduction_factor=reduction_factor,
            brackets=1,
        )
    else:
        sched = PopulationBasedTraining(
            time_attr="weight_steps",
            perturbation_interval=perturbation_interval,
            hyperparam_mutations={k: space[k] for k in RAW_KEYS},
            custom_explore_fn=_explore,
            quantile_fraction=quantile_fraction,
            resample_probability=0.25,
        )
    parquet_path, json_path = output_paths(out)
    parquet_path.parent.mkdir(parents=True, exist_ok=True)
    storage = Path(tempfile.mkdtemp(prefix=f".{parquet_path.stem}.ray-", dir=parquet_path.parent)).resolve()
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(
            num_cpus=num_cpus or os.cpu_count(),
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    started = time.time()
    try:
        tuner = tune.Tuner(
            tune.with_parameters(_trainable, settings=settings),
            param_space=space,
            tune_config=tune.TuneConfig(
                metric="validation_loss",
                mode="min",
                scheduler=sched,
                num_samples=num_samples,
                search_alg=BasicVariantGenerator(random_state=seed, max_concurrent=max_concurrent),
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name="search",
                storage_path=str(storage),
                stop={"weight_steps": max_steps},
                checkpoint_config=tune.CheckpointConfig(num_to_keep=4),  # PBT donors need recent ones
                failure_config=tune.FailureConfig(max_failures=0),
                verbose=0,
            ),
        )
        grid = tuner.fit()
        rows, trials = _collect(grid, max_steps)
    finally:
        if started_ray:
            ray.shutdown()
        shutil.rmtree(storage, ignore_errors=True)
    payload = {
        "scheduler": scheduler,
        "algorithm": algorithm,
        "inner_algorithm": ALGORITHMS[algorithm],
        "name": algorithm_name(scheduler, algorithm),
        "dataset": config["dataset"],
        "experiment": experiment,
        "settings": {
            "num_samples": num_samples,
            "max_steps": max_steps,
            "time_attr": "weight_steps",
            "metric": "validation_loss",
            "mode": "min",
            "report_every_weight_steps": T,
            "seed": seed,
            **(
                {"grace_period": grace_period or T, "reduction_factor": reduction_factor, "brackets": 1}
                if scheduler == "ASHA"
                else {
                    "perturbation_interval": perturbation_interval,
                    "quantile_fraction": quantile_fraction,
                    "resample_probability": 0.25,
                    "perturbation_factors": [1.2, 0.8],
                    "checkpoint_every_weight_steps": T,
                }
            ),
            "overrides": user,
        },
        "config": config,
        "n_trials": len(trials),
        "n_reached_max_steps": sum(t["reached_max_steps"] for t in trials),
        "n_restored_from_other_trials": sum(bool(t["restored_from"]) for t in trials),
        "wall_seconds": time.time() - started,
        "environment": {"ray": ray.__version__, "python": platform.python_version()},
        "trials": trials,
    }
    payload = _jsonable(payload)
    write_chunk(parquet_path, json_path, lambda temp: rows.to_parquet(temp, index=False), payload)
    payload["frame"] = rows
    return payload


def _collect(grid: Any, max_steps: int) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Every report of every trial (one table) and a summary per trial, in trial-id order."""
    results = sorted(grid, key=lambda r: str(r.metrics.get("trial_id", "")) if r.metrics else "")
    frames, trials = [], []
    for index, result in enumerate(results):
        frame = result.metrics_dataframe
        if frame is None or frame.empty or "weight_steps" not in frame.columns:
            frame = pd.DataFrame(columns=[c for c in ROW_COLUMNS if c != "trial"])
        frame = frame.rename(columns={"weight_steps": "iteration"})
        for column in ROW_COLUMNS:
            if column not in frame.columns:
                frame[column] = np.nan if column != "restored_from" else ""
        frame["trial"] = index
        frame["trial_id"] = str((result.metrics or {}).get("trial_id", index))
        frame["restored_from"] = frame["restored_from"].fillna("").astype(str)
        # time order: after a PBT exploit the trial repeats step counts from the donor's checkpoint
        frame = frame[ROW_COLUMNS].sort_values(["wall_time", "iteration"], kind="stable")
        frames.append(frame)
        last = frame.iloc[-1] if len(frame) else None
        reached = last is not None and float(last["iteration"]) >= max_steps
        trials.append(
            {
                "trial": index,
                "trial_id": frame["trial_id"].iloc[0] if len(frame) else str(index),
                "config": {k: v for k, v in (result.config or {}).items()},
                "iterations": None if last is None else int(last["iteration"]),
                "reached_max_steps": bool(reached),
                "final": None
                if last is None
                else {
                    k: float(last[k])
                    for k in ("validation_loss", "test_loss", "unnormalised_test_loss", *HYPER_COLUMNS)
                },
                "restored_from": sorted({r for r in frame["restored_from"] if r}),
                "error": None if result.error is None else str(result.error).splitlines()[0][:500],
            }
        )
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ROW_COLUMNS)
    rows = rows.astype(
        {
            "trial": "int32",
            "iteration": "int32",
            "training_iteration": "int64",
            "wall_time": "float64",
            "timestamp": "float64",
            "validation_loss": "float64",
            "test_loss": "float64",
            "unnormalised_test_loss": "float64",
        }
    )
    return rows, trials


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# ------------------------------------------------------------------------------ aggregation
RAY_TAGS = {
    "unnormalised_test_loss": "Unnormalised_Loss/Test",
    "test_loss": "Loss/Test",
    "validation_loss": "Loss/Validation",
}


def aggregate_ray(
    files: Sequence[str | Path], experiment: str, parquet_out: str | Path, final_out: str | Path
) -> dict[str, int]:
    """Search outputs of one Ray experiment -> ``results/scalars``-style long table and final CSV.

    Algorithm = ``<scheduler>_<algorithm>``, seed = trial index, step = weight steps. The final CSV
    has a row only for trials that trained the full ``max_steps`` (the paper's selection for the
    ASHA/PBT tables; ASHA stops most trials early by design), with ``best:<tag>`` columns.
    """
    import json

    import pyarrow as pa

    from ..records.aggregate import FINAL_COLUMNS, AggregationError, check_pair, write_aggregate

    longs, finals = [], []
    for path in map(Path, files):
        parquet, summary_path = path.with_suffix(".parquet"), path.with_suffix(".json")
        try:
            summary = json.loads(summary_path.read_text())
            rows = pd.read_parquet(parquet)
        except (OSError, ValueError) as error:
            raise AggregationError(f"{path}: cannot read Ray search output: {error}") from None
        check_pair(parquet, summary_path, summary)
        name = summary.get("name") or algorithm_name(summary["scheduler"], summary["algorithm"])
        long = rows.melt(
            id_vars=["trial", "iteration", "wall_time"], value_vars=list(RAY_TAGS), var_name="tag", value_name="value"
        )
        long["tag"] = long["tag"].map(RAY_TAGS)
        long = long.rename(columns={"trial": "seed", "iteration": "step"})
        long.insert(0, "algorithm", name)
        longs.append(long[["algorithm", "seed", "step", "tag", "value", "wall_time"]])
        best = long.groupby(["seed", "tag"])["value"].min()
        for trial in summary["trials"]:
            if not trial["reached_max_steps"]:
                continue
            final = trial["final"] or {}
            values = {RAY_TAGS[k]: (math.nan if final.get(k) is None else final[k]) for k in RAY_TAGS}
            ok = all(math.isfinite(v) for v in values.values())
            row = {column: None for column in FINAL_COLUMNS}
            cfg = trial.get("config") or {}
            row.update(
                experiment=experiment,
                algorithm=name,
                seed=trial["trial"],
                status="ok" if ok else "diverged",
                steps_completed=trial["iterations"],
                init_lr=10.0 ** cfg["lr_log10"] if "lr_log10" in cfg else None,
                init_weight_decay=10.0 ** cfg["weight_decay_log10"] if "weight_decay_log10" in cfg else None,
                init_momentum=cfg.get("momentum"),
                trial_id=trial["trial_id"],
                restored=bool(trial["restored_from"]),
            )
            row.update(values)
            for tag in RAY_TAGS.values():
                row[f"best:{tag}"] = best.get((trial["trial"], tag), math.nan)
            finals.append(row)
    if not longs:
        raise AggregationError(f"experiment {experiment}: no Ray search outputs given")
    long = pd.concat(longs, ignore_index=True)
    long = long.astype({"seed": "int32", "step": "int32", "value": "float64", "wall_time": "float64"})
    table = pa.Table.from_pandas(long, preserve_index=False)
    for name in ("algorithm", "tag"):
        table = table.set_column(table.schema.get_field_index(name), name, table.column(name).dictionary_encode())
    final = pd.DataFrame(finals, columns=None if finals else FINAL_COLUMNS)
    write_aggregate(table, final, parquet_out, final_out)
    return {"searches": len(longs), "finished_trials": len(final), "rows": table.num_rows}


# ------------------------------------------------------------------------------ command line
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m onepass.baselines.raytune",
        description="ASHA / PBT baselines with Ray Tune (needs the `ray` extra).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="one search (scheduler x algorithm) -> OUT.parquet + OUT.json")
    run.add_argument("--dataset-config", required=True, help="a packaged dataset id or a YAML file")
    run.add_argument("--scheduler", required=True, help="ASHA or PBT")
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
    run.add_argument(
        "--set",
        nargs="*",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="training overrides (as onepass train)",
    )
    agg = sub.add_parser("aggregate", help="search outputs -> results/scalars-style parquet + final CSV")
    agg.add_argument("--experiment", required=True)
    agg.add_argument("--parquet", required=True)
    agg.add_argument("--final", required=True)
    agg.add_argument("files", nargs="+", help="search .parquet files (the .json beside each is read)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..records.aggregate import AggregationError
    from ..training.config import parse_assignment

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


if __name__ == "__main__":
    sys.exit(main())

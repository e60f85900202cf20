"""One ASHA or PBT search: check the settings, build the scheduler, let Ray Tune run the trials.

:func:`run_search` is the entry point: :func:`check_settings` fails early with the key named,
:func:`make_scheduler` builds Ray's ASHA or PBT scheduler, :func:`make_tuner` the ``Tuner`` over
:func:`.trainable.trainable`, run inside :func:`ray_session`; :func:`.collect.collect` reads the
results back and :func:`search_payload` summarises them in the JSON written beside the table.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ...io_utils import jsonable
from .collect import collect
from .names import ALGORITHMS, RayTuneError, algorithm_name, check_algorithm, normalise_scheduler
from .space import RAW_KEYS, explore, search_space
from .trainable import trainable

#: PBT's probability of resampling a mutated value from the search space (instead of perturbing it).
RESAMPLE_PROBABILITY = 0.25


def require_ray() -> Any:
    """Import Ray Tune or explain how to install it."""
    try:
        import ray  # noqa: F401
        from ray import tune
    except ImportError:
        raise RayTuneError("ray is not installed: install the optional extra with `pip install .[ray]`") from None
    return tune


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
    from ...training.chunk import output_paths, write_chunk

    tune = require_ray()
    scheduler, algorithm = normalise_scheduler(scheduler), check_algorithm(algorithm)
    config, user = check_settings(dataset_config, algorithm, num_samples, max_steps, overrides, data_dir)
    T = config["update_interval"]
    options = scheduler_options(scheduler, T, grace_period, reduction_factor, perturbation_interval, quantile_fraction)
    settings = {
        "dataset_config": str(dataset_config),
        "algorithm": algorithm,
        "scheduler": scheduler,
        "max_steps": max_steps,
        "data_dir": str(Path(data_dir).resolve()),
        "overrides": user,
    }
    space = search_space(tune)
    sched = make_scheduler(scheduler, space, max_steps, options)
    parquet_path, json_path = output_paths(out)
    with ray_session(parquet_path, num_cpus) as storage:
        started = time.time()
        tuner = make_tuner(tune, settings, space, sched, storage, num_samples, seed, max_concurrent)
        rows, trials = collect(tuner.fit(), max_steps)
    run = {"num_samples": num_samples, "max_steps": max_steps, "T": T, "seed": seed, "overrides": user}
    payload = jsonable(search_payload(scheduler, algorithm, experiment, config, run, options, trials, started))
    write_chunk(parquet_path, json_path, lambda temp: rows.to_parquet(temp, index=False), payload)
    payload["frame"] = rows
    return payload


def check_settings(
    dataset_config: str | Path,
    algorithm: str,
    num_samples: int,
    max_steps: int,
    overrides: Mapping[str, Any] | None,
    data_dir: str | Path,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fail early, with the key named; return (the trials' base config, the user's overrides)."""
    import torch

    from ...training.algorithms import get_algorithm, resolve_config
    from ...training.config import build_config
    from ...training.data import prepare_data

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
    return config, user


def scheduler_options(
    scheduler: str,
    T: int,
    grace_period: int | None,
    reduction_factor: float,
    perturbation_interval: int,
    quantile_fraction: float,
) -> dict[str, Any]:
    """The scheduler's own settings (as recorded in the JSON); PBT's interval is checked against T."""
    if scheduler == "ASHA":
        return {"grace_period": grace_period or T, "reduction_factor": reduction_factor, "brackets": 1}
    if perturbation_interval < T or perturbation_interval % T:
        raise RayTuneError(
            f"perturbation_interval: must be a positive multiple of update_interval ({T}), "
            f"got {perturbation_interval!r}"
        )
    return {
        "perturbation_interval": perturbation_interval,
        "quantile_fraction": quantile_fraction,
        "resample_probability": RESAMPLE_PROBABILITY,
        "perturbation_factors": [1.2, 0.8],
        "checkpoint_every_weight_steps": T,
    }


def make_scheduler(scheduler: str, space: dict[str, Any], max_steps: int, options: dict[str, Any]) -> Any:
    """Ray's ``ASHAScheduler`` or ``PopulationBasedTraining``; time is counted in weight steps."""
    from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining

    if scheduler == "ASHA":
        return ASHAScheduler(
            time_attr="weight_steps",
            max_t=max_steps,
            grace_period=options["grace_period"],
            reduction_factor=options["reduction_factor"],
            brackets=options["brackets"],
        )
    return PopulationBasedTraining(
        time_attr="weight_steps",
        perturbation_interval=options["perturbation_interval"],
        hyperparam_mutations={k: space[k] for k in RAW_KEYS},
        custom_explore_fn=explore,
        quantile_fraction=options["quantile_fraction"],
        resample_probability=options["resample_probability"],
    )


@contextlib.contextmanager
def ray_session(parquet_path: Path, num_cpus: int | None) -> Iterator[Path]:
    """A private Ray storage folder beside the output (removed afterwards); Ray started if not running."""
    import ray

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
    try:
        yield storage
    finally:
        if started_ray:
            ray.shutdown()
        shutil.rmtree(storage, ignore_errors=True)


def make_tuner(
    tune: Any,
    settings: dict[str, Any],
    space: dict[str, Any],
    sched: Any,
    storage: Path,
    num_samples: int,
    seed: int,
    max_concurrent: int,
) -> Any:
    """The ``Tuner``: minimise ``validation_loss``, stop at ``max_steps``, no retries, Ray's sampling seeded."""
    from ray.tune.search.basic_variant import BasicVariantGenerator

    return tune.Tuner(
        tune.with_parameters(trainable, settings=settings),
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
            stop={"weight_steps": settings["max_steps"]},
            checkpoint_config=tune.CheckpointConfig(num_to_keep=4),  # PBT donors need recent ones
            failure_config=tune.FailureConfig(max_failures=0),
            verbose=0,
        ),
    )


def search_payload(
    scheduler: str,
    algorithm: str,
    experiment: str | None,
    config: dict[str, Any],
    run: dict[str, Any],
    options: dict[str, Any],
    trials: list[dict[str, Any]],
    started: float,
) -> dict[str, Any]:
    """The search's JSON: names, settings (``run``: num_samples, max_steps, T, seed, overrides), trials."""
    import ray

    return {
        "scheduler": scheduler,
        "algorithm": algorithm,
        "inner_algorithm": ALGORITHMS[algorithm],
        "name": algorithm_name(scheduler, algorithm),
        "dataset": config["dataset"],
        "experiment": experiment,
        "settings": {
            "num_samples": run["num_samples"],
            "max_steps": run["max_steps"],
            "time_attr": "weight_steps",
            "metric": "validation_loss",
            "mode": "min",
            "report_every_weight_steps": run["T"],
            "seed": run["seed"],
            **options,
            "overrides": run["overrides"],
        },
        "config": config,
        "n_trials": len(trials),
        "n_reached_max_steps": sum(t["reached_max_steps"] for t in trials),
        "n_restored_from_other_trials": sum(bool(t["restored_from"]) for t in trials),
        "wall_seconds": time.time() - started,
        "environment": {"ray": ray.__version__, "python": platform.python_version()},
        "trials": trials,
    }

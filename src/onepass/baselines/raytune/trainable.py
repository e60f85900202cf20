"""One Ray trial (runs inside a Ray worker): train window by window, report, checkpoint, restore.

Every hyperparameter window (T weight steps) the trial reports ``weight_steps``, the validation and
test losses (:func:`evaluate`) and the current hyperparameters. Under PBT it also checkpoints
(:func:`save_state`); a trial that Ray restarts from a (possibly donor's) checkpoint continues from it
with PBT's perturbation applied (:func:`restore`).
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

from .names import ALGORITHMS
from .space import RAW_KEYS, raw_value, trial_hyperparameters

CHECKPOINT_FILE = "state.pt"


def trainable(config: dict[str, Any], settings: dict[str, Any]) -> None:
    """One Ray trial: train window by window, report, checkpoint (PBT), continue from checkpoints."""
    import torch
    from ray import tune

    torch.set_num_threads(1)
    natural = trial_hyperparameters(config)
    init_raw = {key: raw_value(key, float(config[key])) for key in RAW_KEYS}
    run, T = build_run(config, settings, natural)
    trial_id = tune.get_context().get_trial_id()
    steps = 0
    restored_from = ""
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = torch.load(Path(folder) / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
        restore(run, state, natural, init_raw)
        steps = int(state["weight_steps"])
        restored_from = state["owner"] if state["owner"] != trial_id else ""
    save = settings["scheduler"] == "PBT"
    while steps < settings["max_steps"] and not run.finished:
        run.run_window()
        steps += T
        metrics = window_metrics(run, steps, restored_from)
        if save and run.status == "ok":
            with tempfile.TemporaryDirectory() as folder:
                save_state(run, Path(folder), trial_id, init_raw, steps)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
        else:
            tune.report(metrics)
        if run.status != "ok":
            return


def build_run(config: dict[str, Any], settings: dict[str, Any], natural: dict[str, float]) -> tuple[Any, int]:
    """The trial's ``TrainingRun`` (long enough for ``max_steps``) on CPU, and its window length T."""
    import torch

    from ...training.algorithms import get_algorithm, resolved_run_config
    from ...training.config import build_config
    from ...training.data import prepare_data
    from ...training.run import TrainingRun

    algorithm = get_algorithm(ALGORITHMS[settings["algorithm"]])
    overrides = {**settings["overrides"], **natural}
    cfg = build_config(settings["dataset_config"], overrides)  # validated once, here
    T = cfg["update_interval"]
    cfg["hyperparameter_steps"] = max(1, math.ceil(settings["max_steps"] / T))  # a positive int: still valid
    resolved = resolved_run_config(cfg, algorithm)
    device = torch.device("cpu")
    data = prepare_data(resolved, settings["data_dir"], algorithm.keep_validation, device)
    return TrainingRun(resolved, algorithm, int(config["seed"]), data, device), T


def window_metrics(run: Any, steps: int, restored_from: str) -> dict[str, Any]:
    """What the trial reports after a window."""
    metrics: dict[str, Any] = {"weight_steps": steps, "wall_time": time.time()}
    if run.status != "ok":
        metrics.update(validation_loss=math.inf, test_loss=math.nan, unnormalised_test_loss=math.nan)
    else:
        metrics.update(evaluate(run))
    metrics.update(run.engine.hyperparameters)
    metrics["restored_from"] = restored_from
    return metrics


def evaluate(run: Any) -> dict[str, float]:
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


def save_state(run: Any, folder: Path, trial_id: str, init_raw: dict[str, float], steps: int) -> None:
    """Checkpoint: model, HyperSGD and data-stream state, counters, initial raw values, owner."""
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


def restore(run: Any, state: dict[str, Any], natural: dict[str, float], init_raw: dict[str, float]) -> None:
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

"""One BayesOpt trial: train a proposed point, score it, and turn it into rows and a summary.

:func:`prepare` resolves everything the trials share (config, data, device, penalty) once;
:func:`train_trial` trains one ``Random_Validation`` run at the proposed initial hyperparameters;
:func:`trial_frame` and :func:`trial_summary` turn its result into the repetition's table rows and
JSON entry.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .space import (
    INNER_ALGORITHM,
    TRIAL_TAGS,
    BayesOptError,
    check_penalty,
    metric_tag,
    natural_hyperparameters,
    trial_seed,
)


@dataclass
class Setup:
    """What every trial of one repetition shares."""

    dataset_config: str | Path | dict[str, Any]
    repetition: int
    base_overrides: dict[str, Any]  # the user's training overrides (+ no lr clipping unless set)
    base: dict[str, Any]  # resolved config of the inner algorithm (recorded in the JSON)
    algorithm: Any
    penalty: float
    device: Any  # torch.device
    data: Any
    tensorboard_dir: str | Path | None

    @property
    def dataset(self) -> str:
        return self.base["dataset"]

    @property
    def window(self) -> tuple[int, int]:
        """(T, H): weight steps per hyperparameter step, hyperparameter steps per trial."""
        return self.base["update_interval"], self.base["hyperparameter_steps"]

    @property
    def metric(self) -> str:
        return metric_tag(self.base["task"])


def base_overrides(overrides: Mapping[str, Any] | Sequence[str] | None) -> dict[str, Any]:
    """User training overrides; lr/weight_decay/momentum are the optimiser's; lr clipping off unless set."""
    from ...training.config import parse_assignment

    if overrides is None:
        user: dict[str, Any] = {}
    elif isinstance(overrides, Mapping):
        user = dict(overrides)
    else:
        user = dict(parse_assignment(text) for text in overrides)
    for key in ("lr", "weight_decay", "momentum"):
        if key in user:
            raise BayesOptError(f"overrides.{key}: set by the optimiser; use bounds instead")
    return user if "lr_clip" in user else {**user, "lr_clip": None}


def prepare(
    dataset_config: str | Path | dict[str, Any],
    repetition: int,
    overrides: Mapping[str, Any] | Sequence[str] | None,
    penalty: float | None,
    data_dir: str | Path,
    device: str,
    tensorboard_dir: str | Path | None,
) -> Setup:
    """Check the settings (the key named on error) and load the data, once per repetition."""
    from ...training.algorithms import get_algorithm, resolve_config
    from ...training.chunk import resolve_device
    from ...training.config import build_config
    from ...training.data import prepare_data
    from ...training.run_config import RunConfig

    user = base_overrides(overrides)
    algorithm = get_algorithm(INNER_ALGORITHM)
    base = resolve_config(build_config(dataset_config, user), algorithm)
    penalty = check_penalty(penalty, base["dataset"])
    torch_device = resolve_device(device)
    data = prepare_data(RunConfig.from_valid(base), data_dir, algorithm.keep_validation, torch_device)
    return Setup(dataset_config, repetition, user, base, algorithm, penalty, torch_device, data, tensorboard_dir)


def train_trial(setup: Setup, trial: int, params: Mapping[str, float]) -> tuple[Any, float, bool]:
    """Train trial ``trial`` at ``params``; return (result, objective, penalised).

    The objective is minus the final full-validation loss, or ``-penalty`` if that is not finite.
    """
    from ...training.algorithms import resolved_run_config
    from ...training.config import build_config
    from ...training.run import TrainingRun

    document = build_config(setup.dataset_config, {**setup.base_overrides, **natural_hyperparameters(params)})
    config = resolved_run_config(document, setup.algorithm)  # validated once, by build_config
    seed = trial_seed(setup.repetition, trial)
    tb = Path(setup.tensorboard_dir) / f"trial{trial}" if setup.tensorboard_dir is not None else None
    result = TrainingRun(config, setup.algorithm, seed, setup.data, setup.device, tensorboard_dir=tb).run()
    loss = result.final_full_validation_loss
    penalised = result.status != "ok" or loss is None or not math.isfinite(loss)
    objective = -setup.penalty if penalised else -float(loss)
    return result, objective, penalised


def trial_frame(setup: Setup, result: Any, trial: int, objective: float, best_objective: float) -> pd.DataFrame:
    """The trial's rows, shifted after the earlier trials, plus its three ``TRIAL_TAGS`` rows."""
    T, H = setup.window
    frame = result.frame.copy()
    per_step = ~frame["tag"].str.startswith("Last_")
    frame["step"] = np.where(per_step, frame["step"] + trial * (T * H + 1), frame["step"] + trial * H)
    frame["seed"] = setup.repetition
    extra = pd.DataFrame(
        {
            "seed": setup.repetition,
            "step": trial * (T * H + 1) + T * H,
            "tag": list(TRIAL_TAGS),
            "value": [float(trial), objective, best_objective],
            "wall_time": time.time(),
        }
    )
    frame = pd.concat([frame, extra], ignore_index=True)
    frame["trial"] = trial
    return frame


def trial_summary(
    setup: Setup,
    result: Any,
    trial: int,
    kind: str,
    params: dict[str, float],
    *,
    objective: float,
    penalised: bool,
    suggest_seconds: float,
) -> dict[str, Any]:
    """The run summary plus the trial's fields (docs/CONTRACTS.md)."""
    summary = result.summary()
    summary.update(
        seed=setup.repetition,
        trial=trial,
        training_seed=trial_seed(setup.repetition, trial),
        kind=kind,
        params=params,
        objective=objective,
        penalised=penalised,
        suggest_seconds=suggest_seconds,
    )
    return summary


def print_progress(repetition: int, summary: Mapping[str, Any]) -> None:
    """One line per trial on stderr."""
    natural = natural_hyperparameters(summary["params"])
    print(
        f"repetition {repetition} trial {summary['trial']} ({summary['kind']}): lr={natural['lr']:.3g} "
        f"wd={natural['weight_decay']:.3g} m={natural['momentum']:.3f} -> objective {summary['objective']:.6g}"
        f"{' (penalty)' if summary['penalised'] else ''}",
        file=sys.stderr,
    )

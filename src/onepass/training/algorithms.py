"""The algorithms the paper compares, as data: what each tunes, how, and on which data.

Keeping them declarative means one training loop serves all of them, so differences in results
come from the algorithms and not from thirteen slightly different loops.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .config import ConfigError
from .run_config import RunConfig


@dataclass(frozen=True)
class Algorithm:
    """One algorithm of the paper: what it tunes, with which hypergradient, on which data."""

    name: str
    method: str | None  # HyperSGD method: None, "neumann", "exact", "baydin"
    tune: tuple[str, ...] = ()
    per_parameter_lr: bool = False
    keep_validation: bool = True  # False: train on train+validation, no validation losses
    validation_from_training: bool = False  # Baydin: the "validation" batch is a 2nd training batch
    full_batch_validation: bool = False  # Random_Validation: every validation loss on the full split
    stepped_lr: bool = False  # Random_SteppedLR: lr *= multiplier after each window
    track_whole_window: bool = False  # Long Diff-through-Opt: lookback = T
    pinned: dict[str, Any] = field(default_factory=dict)  # settings that define the algorithm
    description: str = ""


ALL_HYPERPARAMETERS = ("lr", "weight_decay", "momentum")

_LONG_DTO = dict(method="exact", tune=ALL_HYPERPARAMETERS, track_whole_window=True)

ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in [
        Algorithm(
            "Random", None, keep_validation=False, description="fixed random hyperparameters, trains on train+val"
        ),
        Algorithm(
            "Random_SteppedLR",
            None,
            keep_validation=False,
            stepped_lr=True,
            description="lr multiplied after each window",
        ),
        Algorithm(
            "Random_Validation",
            None,
            full_batch_validation=True,
            description="Random on the train split; feeds Random (3-batched)",
        ),
        Algorithm("Lorraine", "neumann", ("weight_decay",), description="Neumann hypergradient on weight decay"),
        Algorithm(
            "Baydin",
            "baydin",
            ("lr",),
            keep_validation=False,
            validation_from_training=True,
            description="hypergradient descent on lr",
        ),
        Algorithm(
            "Ours_LR", "neumann", ("lr", "weight_decay"), description="Neumann hypergradient on lr and weight decay"
        ),
        Algorithm(
            "Ours_LR_Momentum", "neumann", ALL_HYPERPARAMETERS, description="Neumann hypergradient on lr, wd, momentum"
        ),
        Algorithm(
            "Ours_HDLR_Momentum",
            "neumann",
            ALL_HYPERPARAMETERS,
            per_parameter_lr=True,
            description="per-weight lr, wd, momentum",
        ),
        Algorithm(
            "DiffThroughOpt",
            "exact",
            ALL_HYPERPARAMETERS,
            description="exact hypergradient through the last `lookback` steps",
        ),
        Algorithm(
            "LongDiffThroughOpt_UCI_Standalone",
            **_LONG_DTO,
            pinned={
                "update_interval": 200,
                "hyperparameter_steps": 30,
                "reset_weights_after_hyperparameter_step": True,
            },
            description="200-step unroll x 30, restarting from the initial weights",
        ),
        Algorithm(
            "LongDiffThroughOpt_UCI_Full",
            **_LONG_DTO,
            pinned={
                "update_interval": 4000,
                "hyperparameter_steps": 30,
                "reset_weights_after_hyperparameter_step": True,
            },
            description="4000-step unroll x 30, restarting from the initial weights",
        ),
        Algorithm(
            "LongDiffThroughOpt_FashionMNIST_Standalone",
            **_LONG_DTO,
            pinned={
                "update_interval": 1000,
                "hyperparameter_steps": 50,
                "reset_weights_after_hyperparameter_step": True,
            },
            description="1000-step unroll x 50, restarting from the initial weights",
        ),
        Algorithm(
            "LongDiffThroughOpt_FashionMNIST_Medium",
            **_LONG_DTO,
            pinned={
                "update_interval": 200,
                "hyperparameter_steps": 50,
                "reset_weights_after_hyperparameter_step": False,
            },
            description="200-step unroll x 50, one continuing training run",
        ),
    ]
}


def get_algorithm(name: str) -> Algorithm:
    """Look an algorithm up by its exact name, with an error listing the allowed names."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ConfigError(f"--algorithm: unknown algorithm '{name}'; allowed: {', '.join(ALGORITHMS)}") from None


def resolve_config(config: dict[str, Any], algorithm: Algorithm) -> dict[str, Any]:
    """Apply the settings that define ``algorithm`` on top of a validated user configuration
    (:func:`onepass.training.config.build_config`'s output), and check what the algorithm needs.

    Baydin's one-step windows keep the total number of weight steps (T*H) unchanged. The result
    is not validated again: the user's values were, each ``pinned`` value is checked by
    ``tests/test_settings.py``, and the derived ones (T*H, lookback = T, no validation share) are
    valid whenever those are.
    """
    out = copy.deepcopy(config)
    out.update(copy.deepcopy(algorithm.pinned))
    if algorithm.method == "baydin":
        out["hyperparameter_steps"] = out["update_interval"] * out["hyperparameter_steps"]
        out["update_interval"] = 1
    if algorithm.track_whole_window:
        out["lookback"] = out["update_interval"]
    if not algorithm.keep_validation:
        out["validation_proportion"] = 0.0
    if algorithm.method in ("neumann", "exact") and out["validation_proportion"] == 0:
        raise ConfigError(
            f"config key 'validation_proportion': is 0, but {algorithm.name} tunes its hyperparameters on a "
            "validation set; set validation_proportion > 0 (e.g. --set validation_proportion=0.2)"
        )
    if algorithm.method == "exact" and out["lookback"] > out["update_interval"]:
        raise ConfigError(
            f"config key 'lookback': is {out['lookback']}, but {algorithm.name} can unroll at most the "
            f"update_interval={out['update_interval']} steps of a window; set lookback <= "
            "update_interval"
        )
    return out


def resolved_run_config(config: dict[str, Any], algorithm: Algorithm) -> RunConfig:
    """The typed settings a run of ``algorithm`` reads, from :func:`~onepass.training.config.build_config`'s
    output: resolved and typed without a second validation (a job checks its settings once, where it
    starts; a :class:`~onepass.training.run.TrainingRun` given a document would check them again)."""
    return RunConfig.from_valid(resolve_config(config, algorithm))


def overridden_pinned_settings(algorithm: Algorithm, overrides: list[tuple[str, Any]]) -> list[str]:
    """The user's settings that ``algorithm`` replaces by its own (``key=value (uses X)``), so the
    caller can say so: Long Diff-through-Opt *is* its window length, whatever the user set."""
    return [
        f"{key}={value!r} (uses {algorithm.pinned[key]!r})"
        for key, value in overrides
        if key in algorithm.pinned and algorithm.pinned[key] != value
    ]


def is_resolved(config: RunConfig, algorithm: Algorithm) -> bool:
    """Whether ``config`` already holds what :func:`resolve_config` applies for ``algorithm`` (so a
    typed configuration handed to a run cannot silently skip the algorithm's own settings)."""
    settings = config.__dict__
    return (
        all(settings[key] == value for key, value in algorithm.pinned.items())
        and (algorithm.method != "baydin" or config.update_interval == 1)
        and (not algorithm.track_whole_window or config.lookback == config.update_interval)
        and (algorithm.keep_validation or config.validation_proportion == 0)
    )

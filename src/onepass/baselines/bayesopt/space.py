"""What a BayesOpt repetition searches and how it scores: names, bounds, penalties, seeds, metric.

Pure settings and checks (standard library only), so any layer above may read them cheaply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ...training.dataset_facts import bayesopt_penalties, bayesopt_penalty

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

#: Upper-confidence-bound exploration weight (bayes_opt's default, also the authors').
DEFAULT_KAPPA = 2.576

#: Training seed of trial k of repetition r: r * SEED_STRIDE + k.
SEED_STRIDE = 1000

#: Tags logged once per trial, at its final step.
TRIAL_TAGS = ("BayesOpt/Trial", "BayesOpt/Objective", "BayesOpt/Best_Objective")


class BayesOptError(ValueError):
    """A bad setting for a BayesOpt repetition; the message names the key."""


def default_penalty(dataset: str) -> float:
    """The authors' penalty for a diverged trial on ``dataset`` (the objective is then ``-penalty``),
    from the dataset's YAML (``report.bayesopt_penalty``); an error if they had none."""
    penalty = bayesopt_penalty(dataset)
    if penalty is None:
        raise BayesOptError(
            f"penalty: no default penalty for dataset '{dataset}' (defaults exist for "
            f"{', '.join(bayesopt_penalties())}); set one explicitly"
        )
    return penalty


def check_penalty(penalty: float | None, dataset: str) -> float:
    """``penalty`` (default: the dataset's) as a finite float."""
    if penalty is None:
        penalty = default_penalty(dataset)
    if not (isinstance(penalty, (int, float)) and math.isfinite(penalty)):
        raise BayesOptError(f"penalty: must be a finite number, got {penalty!r}")
    return float(penalty)


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


def check_counts(repetition: int, n_random: int, n_guided: int) -> None:
    """Repetition index and trial counts: non-negative integers, 1 to SEED_STRIDE trials in all."""
    if isinstance(repetition, bool) or not isinstance(repetition, int) or repetition < 0:
        raise BayesOptError(f"repetition: must be a non-negative integer, got {repetition!r}")
    for key, value in (("random_trials", n_random), ("guided_trials", n_guided)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BayesOptError(f"{key}: must be a non-negative integer, got {value!r}")
    if n_random + n_guided < 1:
        raise BayesOptError("random_trials + guided_trials: at least one trial is needed")
    if n_random + n_guided > SEED_STRIDE:
        raise BayesOptError(f"random_trials + guided_trials: at most {SEED_STRIDE} trials per repetition")


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


def metric_tag(task: str) -> str:
    """The paper's reported test metric per task (what the oracle summary minimises)."""
    return {"regression": "Unnormalised_Loss/Test", "language_model": "Perplexity/Test"}.get(task, "Loss/Test")

"""The parts a run is built from: its initial model, its HyperSGD engine and its data streams.

Each part is drawn from the run's seed through its own derived stream, so seed *k* gives every
algorithm the same initial weights and the same data order (paired comparisons).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..hypersgd import HyperSGD
from .algorithms import Algorithm
from .data import BatchStream, PreparedData
from .initial import InitialHyperparameters, derive_seed, generator_for
from .models import build_model
from .run_config import RunConfig
from .safe_load import non_finite_count, safe_torch_load


def initial_model(
    config: RunConfig, seed: int, data: PreparedData, init_weights: str | Path | None = None
) -> torch.nn.Module:
    """The seed's initial network (or ``init_weights``); the global RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "weights"))
        model = build_model(config.model, data.in_features, data.out_features)
    if init_weights is not None:
        load_initial_weights(model, init_weights, config.model.type)
    return model


def load_initial_weights(model: torch.nn.Module, path: str | Path, model_type: str) -> None:
    """Load ``--init-weights``: a state dict saved with ``torch.save``, read with ``weights_only``
    (a file carrying arbitrary pickled objects is refused, not executed)."""
    state = safe_torch_load(path, "a model state dict saved with torch.save", f"--init-weights {path}")
    if not isinstance(state, dict):
        raise ValueError(f"--init-weights {path}: holds a {type(state).__name__}, not a model state dict")
    for name, value in state.items():
        bad = non_finite_count(value) if isinstance(value, torch.Tensor) else 0
        if bad:
            raise ValueError(f"--init-weights {path}: '{name}' holds {bad} NaN or infinite values")
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:
        raise ValueError(f"--init-weights {path}: does not fit the {model_type} model ({error})") from None


def is_mode_sensitive(model: torch.nn.Module) -> bool:
    """Whether train/eval mode changes what ``model`` computes (BatchNorm or Dropout inside)."""
    return any(isinstance(m, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.Dropout)) for m in model.modules())


def build_engine(
    config: RunConfig, algorithm: Algorithm, initial: InitialHyperparameters, model: torch.nn.Module
) -> HyperSGD:
    """The optimiser that trains ``model`` and tunes what ``algorithm`` tunes."""
    return HyperSGD(
        model,
        initial.lr,
        initial.weight_decay,
        initial.momentum,
        tune=algorithm.tune,
        method=algorithm.method,
        per_parameter_lr=algorithm.per_parameter_lr,
        update_interval=config.update_interval,
        lookback=config.lookback,
        hyper_lr=config.hyper_lr,
        lr_clip=config.lr_clip,
        grad_clip_norm=config.grad_clip_norm,
        baydin_lr=config.baydin_lr,
        skip_nonfinite=False,  # the paper's runs diverge on non-finite hyperparameters (TrainingRun checks)
    )


def build_streams(
    algorithm: Algorithm, seed: int, data: PreparedData, sequential: bool
) -> tuple[BatchStream, BatchStream | None]:
    """Training and validation batch streams, each with its own seeded generator.

    Baydin's "validation" stream is a second, independently shuffled stream over the training
    split; Random_Validation evaluates the whole validation split at once (tabular data).
    """
    bs = data.batch_size
    train = BatchStream(data.train, bs, generator_for(seed, "data/train", "cpu"), sequential=sequential)
    if algorithm.validation_from_training:
        return train, BatchStream(data.train, bs, generator_for(seed, "data/validation", "cpu"), sequential=sequential)
    if data.validation is None:
        return train, None
    val_bs = None if (algorithm.full_batch_validation and not sequential) else bs
    validation = BatchStream(
        data.validation, val_bs, generator_for(seed, "data/validation", "cpu"), sequential=sequential
    )
    return train, validation


def hyperparameter_summary(engine: HyperSGD) -> dict[str, float]:
    """The ``Hyperparameter/*`` tags of the engine's current values (per-weight lr: mean and quantiles)."""
    hp = engine.hyperparameters
    out = {
        "Hyperparameter/Lr": hp["lr"],
        "Hyperparameter/Weight_Decay": hp["weight_decay"],
        "Hyperparameter/Momentum": hp["momentum"],
    }
    quantiles = engine.lr_quantiles()
    if quantiles is not None:
        for name, value in zip(("q05", "q50", "q95"), quantiles):
            out[f"Hyperparameter/Lr_{name}"] = value
    return out

"""The parts a run is built from: its seeds, initial hyperparameters, model, HyperSGD engine and data.

Seed *k* fixes a run's initial hyperparameters, initial weights and data order, whichever algorithm
trains it, so that comparisons between algorithms are paired: each part is drawn from the run's
seed through its own derived stream (:func:`derive_seed`), so an algorithm that consumes more
random numbers in one part never shifts another.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..hypersgd import HyperSGD
from .algorithms import Algorithm
from .data import BatchStream, PreparedData
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


# ------------------------------------------------------------------ seeds and initial hyperparameters
def derive_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed for one purpose (weights, data order, hyperparameters) of one run seed.

    Separate streams per purpose keep the pairing exact: an algorithm that consumes more random
    numbers for data (Baydin's second training stream) cannot shift another purpose's draws.
    Hashing makes the derived seeds platform-independent and unrelated for neighbouring seeds.
    """
    digest = hashlib.sha256(f"onepass:{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def generator_for(seed: int, purpose: str, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator seeded by :func:`derive_seed`."""
    return torch.Generator(device=device).manual_seed(derive_seed(seed, purpose))


@dataclass(frozen=True)
class InitialHyperparameters:
    """Initial hyperparameters in natural units."""

    lr: float
    weight_decay: float
    momentum: float
    lr_multiplier: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def draw_initial(seed: int, config: RunConfig) -> InitialHyperparameters:
    """Draw (or take explicitly configured) initial hyperparameters for ``seed``.

    Four uniforms are always drawn in the same order, whatever is fixed, so every algorithm of an
    experiment gets the same values for the same seed (paired comparisons).
    """
    gen = generator_for(seed, "hyperparameters")
    u = torch.rand(4, generator=gen, dtype=torch.float64).tolist()
    init = config.init
    lo, hi = init.lr_log10
    lr = 10.0 ** (lo + (hi - lo) * u[0])
    lo, hi = init.weight_decay_log10
    wd = 10.0 ** (lo + (hi - lo) * u[1])
    if isinstance(init.momentum, (int, float)):
        momentum = float(init.momentum)
    else:
        lo, hi = init.momentum
        momentum = lo + (hi - lo) * u[2]
    lo, hi = init.lr_multiplier
    multiplier = lo + (hi - lo) * u[3]
    return InitialHyperparameters(
        lr=float(config.lr) if config.lr is not None else lr,
        weight_decay=float(config.weight_decay) if config.weight_decay is not None else wd,
        momentum=float(config.momentum) if config.momentum is not None else momentum,
        lr_multiplier=float(config.lr_multiplier) if config.lr_multiplier is not None else multiplier,
    )

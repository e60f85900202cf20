"""The typed configuration of one run: what the training engine reads, checked once.

Configurations are *written* as nested YAML/`--set` documents (:mod:`onepass.training.config`
assembles and validates them, so errors name the key a user typed). Where a run starts, the
document becomes a :class:`RunConfig`: frozen dataclasses whose fields say what exists and of which
type, so the engine never looks up a string key, and a misspelt attribute fails at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .validation import validate


@dataclass(frozen=True)
class ModelConfig:
    """The network: an MLP (UCI, Fashion-MNIST), the PTB LSTM or ResNet-18 (CIFAR-10)."""

    type: str
    hidden_sizes: tuple[int, ...] = (50,)
    batch_norm: bool = False
    embedding_size: int | None = None
    hidden_size: int | None = None
    num_layers: int | None = None
    vocab_size: int | None = None


@dataclass(frozen=True)
class InitRanges:
    """Ranges of the seeded initial draws: log10 lr, log10 weight decay, momentum (a range or a
    fixed value) and Random_SteppedLR's lr multiplier."""

    lr_log10: tuple[float, float]
    weight_decay_log10: tuple[float, float]
    momentum: tuple[float, float] | float
    lr_multiplier: tuple[float, float]


@dataclass(frozen=True)
class RunConfig:
    """Every setting of one run; the field docs are in ``python -m onepass train --help``."""

    dataset: str
    task: str
    model: ModelConfig
    test_size: int
    input_shape: tuple[int, ...] | None
    validation_proportion: float
    batch_size: int | None
    streams: int
    network_weight_steps: int
    hyperparameter_steps: int
    lookback: int
    normalise_inputs: bool | str
    normalise_outputs: bool
    grad_clip_norm: float | None
    divergence_threshold: float | None
    log_every: int
    hyperparameter_lr: float
    baydin_lr: float
    lr_clip: tuple[float, float] | None
    lr: float | None
    weight_decay: float | None
    momentum: float | None
    lr_multiplier: float | None
    init: InitRanges
    reset_weights_after_hyperparameter_step: bool
    validation_in_train_mode: bool
    fail_on_unclipped_fixed_lr: bool

    @property
    def total_steps(self) -> int:
        """Weight steps of the run (T x H)."""
        return self.network_weight_steps * self.hyperparameter_steps

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> RunConfig:
        """Validate an assembled configuration document and type it (:class:`ConfigError` if bad)."""
        validate(config)
        model = dict(config["model"])
        if "hidden_sizes" in model:
            model["hidden_sizes"] = tuple(model["hidden_sizes"])
        init = config["init"]
        momentum = init["momentum"]
        clip = config["clipping"]["lr"]
        shape = config["input_shape"]
        plain = {k: v for k, v in config.items() if k in _PLAIN_FIELDS}
        return cls(
            **plain,
            model=ModelConfig(**model),
            input_shape=None if shape is None else tuple(shape),
            hyperparameter_lr=config["hyperparameter_optimiser"]["lr"],
            lr_clip=None if clip is None else (float(clip[0]), float(clip[1])),
            init=InitRanges(
                lr_log10=tuple(init["lr_log10"]),
                weight_decay_log10=tuple(init["weight_decay_log10"]),
                momentum=tuple(momentum) if isinstance(momentum, (list, tuple)) else momentum,
                lr_multiplier=tuple(init["lr_multiplier"]),
            ),
        )

    def summary(self) -> dict[str, Any]:
        """The settings as plain JSON-ready values (recorded in each chunk's summary)."""
        return asdict(self)


#: Fields copied as they are from the configuration document (the others are typed above).
_PLAIN_FIELDS = frozenset(RunConfig.__dataclass_fields__) - {
    "model",
    "input_shape",
    "hyperparameter_lr",
    "lr_clip",
    "init",
}


def as_run_config(config: RunConfig | Mapping[str, Any]) -> RunConfig:
    """A :class:`RunConfig`, from one or from an assembled configuration document."""
    return config if isinstance(config, RunConfig) else RunConfig.from_mapping(config)

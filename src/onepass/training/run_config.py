"""The typed configuration of one run: what the training engine reads, checked once.

Configurations are *written* as nested YAML/`--set` documents (:mod:`onepass.training.config`
assembles and validates them, so errors name the key a user typed). Where a run starts, the
document becomes a :class:`RunConfig`: frozen dataclasses whose fields say what exists and of which
type, so the engine never looks up a string key, and a misspelt attribute fails at once.

The fields are written out (not generated from :data:`onepass.training.settings.SETTINGS`) so type
checkers and readers see them; ``tests/test_settings.py`` checks that their names, annotations and
defaults are exactly the table's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .settings import SECTIONS, SETTINGS
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
    """Every setting of one run; each field's doc, default and allowed values are in the table
    :data:`onepass.training.settings.SETTINGS` (and ``python -m onepass train --help``)."""

    dataset: str
    task: str
    model: ModelConfig
    test_size: int
    input_shape: tuple[int, ...] | None
    validation_proportion: float
    batch_size: int | None
    streams: int
    update_interval: int
    hyperparameter_steps: int
    lookback: int
    normalise_inputs: bool | str
    normalise_outputs: bool
    grad_clip_norm: float | None
    divergence_threshold: float | None
    log_every: int
    hyper_lr: float
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
        return self.update_interval * self.hyperparameter_steps

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> RunConfig:
        """Validate an assembled configuration document and type it (:class:`ConfigError` if bad)."""
        validate(config)
        return cls.from_valid(config)

    @classmethod
    def from_valid(cls, config: Mapping[str, Any]) -> RunConfig:
        """Type a document that has passed :func:`validate` (``build_config``'s output, resolved):
        a job checks its settings once, where it starts, not again per seed."""
        fields: dict[str, Any] = {}
        sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        for entry in SETTINGS:
            if not entry.in_run or entry.type == "dict":
                continue
            if entry.section is None:
                fields[entry.name] = entry.typed(config[entry.name])
            elif entry.key in config[entry.section]:
                sections[entry.section][entry.key] = entry.typed(config[entry.section][entry.key])
        return cls(**fields, model=ModelConfig(**sections["model"]), init=InitRanges(**sections["init"]))

    def summary(self) -> dict[str, Any]:
        """The settings as plain JSON-ready values."""
        return asdict(self)


def as_run_config(config: RunConfig | Mapping[str, Any]) -> RunConfig:
    """A :class:`RunConfig`, from one or from an assembled configuration document."""
    return config if isinstance(config, RunConfig) else RunConfig.from_mapping(config)

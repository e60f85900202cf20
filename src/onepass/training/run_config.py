"""The typed configuration of one run, and the checks that make an assembled document one.

Configurations are *written* as nested YAML/`--set` documents (:mod:`onepass.training.config`
assembles them). :func:`validate` checks the assembled document, each error naming the key a user
typed, what it holds and what would be accepted: configurations are mostly written by hand, where
a typo would otherwise surface hours later on a cluster. What is allowed comes from the one table
of settings (:mod:`onepass.training.settings`); only the checks across settings are written here.

Where a run starts, the document becomes a :class:`RunConfig`: frozen dataclasses whose fields say
what exists and of which type, so the engine never looks up a string key, and a misspelt attribute
fails at once. The fields are written out (not generated from
:data:`onepass.training.settings.SETTINGS`) so type checkers and readers see them;
``tests/test_settings.py`` checks that their names, annotations and defaults are exactly the table's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .settings import SECTIONS, SETTINGS, section_keys


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


# ------------------------------------------------------------------ validation of a configuration document
class ConfigError(ValueError):
    """A configuration problem a user can fix; the message names the key."""


#: The keys of the ``model`` section.
MODEL_KEYS = frozenset(section_keys("model"))

#: The models each task can train (an MLP or ResNet-18 cannot read a token stream, an LSTM language
#: model predicts tokens, not a regression target).
MODELS_FOR_TASK = {
    "regression": ("mlp",),
    "classification": ("mlp", "resnet18"),
    "language_model": ("lstm",),
}

#: How each section's error suggests setting one of its keys.
_SECTION_EXAMPLE = {"model": "model.batch_norm=true", "init": "init.momentum=0.6"}


def _require(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"config key '{key}': {message}")


def _check_section_keys(section: str, values: dict[str, Any]) -> None:
    """A section's keys are the table's (a free-form section such as ``report`` has none listed)."""
    known = section_keys(section)
    for key in values:
        if known and key not in known:
            allowed = ", ".join(sorted(known))
            raise ConfigError(f"unknown config key '{section}.{key}'; allowed {section} keys: {allowed}")


def validate(config: dict[str, Any]) -> None:
    """Check every setting of the table, then the settings that constrain each other; raise
    :class:`ConfigError` naming the first bad key."""
    for entry in SETTINGS:
        if entry.section is None:
            value = config[entry.name]
        else:
            section = config[entry.section]
            if entry.key not in section:
                if entry.optional:
                    continue
                value = None
            else:
                value = section[entry.key]
        if entry.name in SECTIONS:
            example = _SECTION_EXAMPLE.get(entry.name, f"{entry.name}.<key>=<value>")
            _require(
                entry.check(value),
                entry.name,
                f"is a section of settings, got {value!r}; set its keys one by one, e.g. {example}",
            )
            _check_section_keys(entry.name, value)
        else:
            _require(entry.check(value), entry.name, f"must be {entry.expects}, got {value!r}")
    allowed = MODELS_FOR_TASK[config["task"]]
    model_type = config["model"]["type"]
    _require(
        model_type in allowed,
        "model.type",
        f"a {model_type} model cannot train task {config['task']}; allowed for {config['task']}: {', '.join(allowed)}",
    )

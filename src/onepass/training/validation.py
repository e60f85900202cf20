"""Validation of an assembled run configuration: every error names the key and what is allowed.

Configurations are mostly written by hand, in pipeline YAML files or as ``--set key=value``, where a
typo would otherwise surface hours later on a cluster; so each check says which key is wrong, what
it holds and what would be accepted.
"""

from __future__ import annotations

import math
from typing import Any


class ConfigError(ValueError):
    """A configuration problem a user can fix; the message names the key."""


ALLOWED_TASKS = ("regression", "classification", "language_model")
ALLOWED_MODELS = ("mlp", "lstm", "resnet18")
MODEL_KEYS = {
    "type",
    "hidden_sizes",
    "batch_norm",
    "embedding_size",
    "hidden_size",
    "num_layers",
    "vocab_size",
}


def _require(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"config key '{key}': {message}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_range(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(_is_number(v) for v in value)
        and value[0] <= value[1]
    )


#: Keys holding a mapping of settings: they are set key by key (clipping.lr=null), never replaced.
SECTIONS = ("model", "init", "hyperparameter_optimiser", "clipping")

#: ``normalise_inputs`` besides true/false (standardise per feature or not): CIFAR-10's fixed statistics.
CIFAR_NORMALISATIONS = ("cifar_unscaled", "cifar_scaled")

#: Keys that are switches: only true or false is accepted (YAML reads "maybe" or 3 as other types).
BOOLEAN_KEYS = (
    "normalise_outputs",
    "validation_in_train_mode",
    "fail_on_unclipped_fixed_lr",
    "reset_weights_after_hyperparameter_step",
)


def _validate_sections(config: dict[str, Any]) -> None:
    _require(isinstance(config["report"], dict), "report", f"must be a mapping, got {config['report']!r}")
    for key in SECTIONS:
        example = {"clipping": "clipping.lr=null"}.get(key, f"{key}.<key>=<value>")
        _require(
            isinstance(config[key], dict),
            key,
            f"is a section of settings, got {config[key]!r}; set its keys one by one, e.g. {example}",
        )


def _validate_model(model: dict[str, Any]) -> None:
    _require(model.get("type") in ALLOWED_MODELS, "model.type", f"got {model.get('type')!r}; allowed: {ALLOWED_MODELS}")
    hidden = model.get("hidden_sizes")
    if hidden is not None:
        _require(
            isinstance(hidden, list) and all(_is_int(h) and h >= 1 for h in hidden),
            "model.hidden_sizes",
            f"must be a list of positive layer widths, e.g. [50], got {hidden!r}",
        )
    for key in ("embedding_size", "hidden_size", "num_layers", "vocab_size"):
        value = model.get(key)
        if value is not None:
            _require(_is_int(value) and value >= 1, f"model.{key}", f"must be a positive integer, got {value!r}")
    if "batch_norm" in model:
        _require(
            isinstance(model["batch_norm"], bool),
            "model.batch_norm",
            f"must be true or false, got {model['batch_norm']!r}",
        )


#: The models each task can train (an MLP or ResNet-18 cannot read a token stream, an LSTM language
#: model predicts tokens, not a regression target).
MODELS_FOR_TASK = {
    "regression": ("mlp",),
    "classification": ("mlp", "resnet18"),
    "language_model": ("lstm",),
}


def _validate_model_fits_task(model_type: str, task: str) -> None:
    allowed = MODELS_FOR_TASK[task]
    _require(
        model_type in allowed,
        "model.type",
        f"a {model_type} model cannot train task {task}; allowed for {task}: {', '.join(allowed)}",
    )


def validate(config: dict[str, Any]) -> None:
    """Check types and ranges; raise :class:`ConfigError` naming the first bad key."""
    _validate_sections(config)
    for key in BOOLEAN_KEYS:
        _require(isinstance(config[key], bool), key, f"must be true or false, got {config[key]!r}")
    norm = config["normalise_inputs"]
    _require(
        isinstance(norm, bool) or norm in CIFAR_NORMALISATIONS,
        "normalise_inputs",
        f"must be true, false, cifar_unscaled or cifar_scaled, got {norm!r}",
    )
    shape = config["input_shape"]
    _require(
        shape is None or (isinstance(shape, list) and shape and all(_is_int(n) and n >= 1 for n in shape)),
        "input_shape",
        f"must be a list of positive sizes (one row of data.pt, e.g. [8]) or null, got {shape!r}",
    )
    threshold = config["divergence_threshold"]
    _require(
        threshold is None or (_is_number(threshold) and threshold > 0),
        "divergence_threshold",
        f"must be a positive number or null, got {threshold!r}",
    )
    _require(isinstance(config["dataset"], str), "dataset", "must name the dataset id, e.g. uci_energy")
    _require(config["task"] in ALLOWED_TASKS, "task", f"got {config['task']!r}; allowed: {ALLOWED_TASKS}")
    _validate_model(config["model"])
    _validate_model_fits_task(config["model"]["type"], config["task"])
    for key in ("network_weight_steps", "hyperparameter_steps", "lookback", "log_every", "streams"):
        _require(_is_int(config[key]) and config[key] >= 1, key, f"must be a positive integer, got {config[key]!r}")
    _require(_is_int(config["test_size"]) and config["test_size"] >= 1, "test_size", "must be a positive integer")
    vp = config["validation_proportion"]
    _require(_is_number(vp) and 0 <= vp < 1, "validation_proportion", f"must be in [0, 1), got {vp!r}")
    bs = config["batch_size"]
    _require(bs is None or (_is_int(bs) and bs >= 1), "batch_size", f"must be a positive integer or null, got {bs!r}")
    gc = config["grad_clip_norm"]
    _require(gc is None or (_is_number(gc) and gc > 0), "grad_clip_norm", f"must be positive or null, got {gc!r}")
    hlr = config["hyperparameter_optimiser"].get("lr")
    _require(_is_number(hlr) and hlr > 0, "hyperparameter_optimiser.lr", f"must be positive, got {hlr!r}")
    _require(_is_number(config["baydin_lr"]) and config["baydin_lr"] > 0, "baydin_lr", "must be positive")
    clip = config["clipping"].get("lr")
    _require(
        clip is None or _is_range(clip), "clipping.lr", f"must be [low, high] in log10 units or null, got {clip!r}"
    )
    _validate_hyperparameters(config)


def _validate_hyperparameters(config: dict[str, Any]) -> None:
    """Explicit initial values (natural units) and the ranges of the seeded draws."""
    for key, low_ok in (("lr", False), ("weight_decay", True), ("lr_multiplier", False)):
        value = config[key]
        if value is not None:
            _require(
                _is_number(value) and (value > 0 or (low_ok and value == 0)),
                key,
                f"must be a positive number (natural units), got {value!r}",
            )
    mom = config["momentum"]
    if mom is not None:
        _require(_is_number(mom) and 0 <= mom < 1, "momentum", f"must be in [0, 1), got {mom!r}")
    init = config["init"]
    for key in ("lr_log10", "weight_decay_log10", "lr_multiplier"):
        _require(_is_range(init.get(key)), f"init.{key}", f"must be [low, high], got {init.get(key)!r}")
    mom_init = init.get("momentum")
    _require(
        (_is_number(mom_init) and 0 <= mom_init < 1) or (_is_range(mom_init) and 0 <= mom_init[0] and mom_init[1] <= 1),
        "init.momentum",
        f"must be [low, high] within [0, 1] or a fixed number in [0, 1), got {mom_init!r}",
    )

"""Validation of an assembled run configuration: every error names the key and what is allowed.

Configurations are mostly written by hand, in pipeline YAML files or as ``--set key=value``, where a
typo would otherwise surface hours later on a cluster; so each check says which key is wrong, what
it holds and what would be accepted. What is allowed comes from the one table of settings
(:mod:`onepass.training.settings`); only the checks across settings are written here.
"""

from __future__ import annotations

from typing import Any

from .settings import ALLOWED_MODELS, ALLOWED_TASKS, CIFAR_NORMALISATIONS, SECTIONS, SETTINGS, section_keys

__all__ = [
    "ALLOWED_MODELS",
    "ALLOWED_TASKS",
    "CIFAR_NORMALISATIONS",
    "MODELS_FOR_TASK",
    "MODEL_KEYS",
    "SECTIONS",
    "ConfigError",
    "validate",
]


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

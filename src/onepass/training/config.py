"""Run configuration: package dataset defaults, user overrides and their validation.

A run is configured by one flat-ish dictionary. It is assembled in a fixed order so that the result
never depends on how a user spelled the command line:

1. ``DEFAULTS`` below (algorithm-independent settings),
2. the dataset YAML (a package id such as ``uci_energy`` or a path to a YAML file),
3. user overrides (``--set key=value`` on the CLI, ``overrides`` in the pipeline config),
4. settings that *define* an algorithm (e.g. Long Diff-through-Opt's window length), applied by
   :func:`onepass.training.algorithms.resolve_config` last, as the authors' launcher applied the algorithm
   YAML last.

Every error names the offending key and says what is allowed, because these configs are mostly
written by hand in pipeline YAML files where a typo would otherwise surface hours later on a cluster.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import yaml

from ..datasets.errors import RegistryError
from ..datasets.registry import DATA_SECTIONS, DATASET_IDS, dataset_document, read_dataset_yaml
from .run_config import MODEL_KEYS, ConfigError, validate
from .settings import SECTIONS, SETTINGS, document_defaults, override_keys, renamed_error, section_keys

__all__ = ["DEFAULTS", "FIXED_KEYS", "ConfigError", "build_config", "load_dataset_config", "override_items", "validate"]


#: The defaults of every setting, as a configuration document (derived from the one table,
#: :data:`onepass.training.settings.SETTINGS`, where each setting's doc and allowed values live).
DEFAULTS: dict[str, Any] = document_defaults()


#: Keys the dataset config fixes: overriding them would train one dataset's tensors with another's
#: split and label the result with the wrong name (and, in the pipeline, declare the wrong inputs).
FIXED_KEYS = tuple(entry.name for entry in SETTINGS if entry.fixed)


def package_dataset_ids() -> list[str]:
    """The dataset ids with a configuration shipped in the package (the dataset registry's ids)."""
    return list(DATASET_IDS)


def load_dataset_config(name_or_path: str | Path) -> dict[str, Any]:
    """Load a dataset configuration by package id (``uci_energy``) or YAML path.

    Both are read by the registry's one reader (:func:`onepass.datasets.registry.read_dataset_yaml`);
    its errors come back as :class:`ConfigError` naming ``--dataset-config``'s file.
    """
    text_name = str(name_or_path)
    path = Path(text_name)
    try:
        if path.suffix in (".yaml", ".yml") or path.exists():
            if not path.is_file():
                raise ConfigError(f"--dataset-config: file '{path}' does not exist")
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise ConfigError(f"--dataset-config: '{path}' is not UTF-8 text (a YAML file was expected)") from None
            return read_dataset_yaml(text, str(path))
        if text_name not in DATASET_IDS:
            raise ConfigError(
                f"--dataset-config: unknown dataset '{text_name}'; allowed: {', '.join(DATASET_IDS)} "
                "(or a path to a YAML file)"
            )
        return dataset_document(text_name)
    except RegistryError as error:
        raise ConfigError(str(error)) from None


def add_set_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """The ``--set key=value ...`` option of every command line that trains (parsed by
    :func:`parse_assignment`); it may be repeated, later values win."""
    parser.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE", help=help_text)


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse one ``key=value`` override; the value is read as YAML (numbers, lists, null)."""
    if "=" not in text:
        raise ConfigError(f"--set '{text}': expected key=value, e.g. lookback=5")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key:
        raise ConfigError(f"--set '{text}': empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {key}: value '{raw}' is not valid YAML ({error})") from None
    return key, _yaml11_number(value)


def _yaml11_number(value: Any) -> Any:
    """YAML 1.1 reads ``1e3`` or ``1e-5`` (no dot) as text; users mean numbers."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    if isinstance(value, list):
        return [_yaml11_number(v) for v in value]
    return value


def set_dotted(config: dict[str, Any], key: str, value: Any) -> None:
    """Assign ``a.b.c = value`` in a nested dict, refusing keys the configuration does not have."""
    _refuse_renamed(key)
    parts = key.split(".")
    node = config
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if not isinstance(child, dict):
            prefix = ".".join(parts[: depth + 1])
            raise ConfigError(f"config key '{key}': '{prefix}' is not a section; allowed: {_known(config)}")
        node = child
    last = parts[-1]
    if node is config and last not in config:
        allowed = sorted({name.split(".")[0] for name in override_keys()})
        raise ConfigError(f"unknown config key '{key}'; allowed: {', '.join(allowed)}")
    if node is not config and parts[0] == "model" and last not in MODEL_KEYS:
        raise ConfigError(f"unknown config key '{key}'; allowed model keys: {', '.join(sorted(MODEL_KEYS))}")
    if node is not config and parts[0] != "model" and last not in node:
        raise ConfigError(f"unknown config key '{key}'; allowed: {', '.join(sorted(node))}")
    node[last] = value


def _refuse_renamed(key: str) -> None:
    """An old setting name is an error naming the new one: a silent alias would keep both alive."""
    message = renamed_error(key)
    if message is not None:
        raise ConfigError(message)


def _known(config: dict[str, Any]) -> str:
    return ", ".join(sorted(config))


def merge(base: dict[str, Any], update: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Recursively merge ``update`` into a copy of ``base``; later leaves win."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value, f"{where}{key}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def build_config(
    dataset_config: str | Path | dict[str, Any], overrides: dict[str, Any] | list[str] | None = None
) -> dict[str, Any]:
    """Defaults + dataset YAML + user overrides (dotted keys or ``key=value`` strings), validated.

    Algorithm-defining settings are applied later by :func:`onepass.training.algorithms.resolve_config`.
    """
    dataset = dataset_config if isinstance(dataset_config, dict) else load_dataset_config(dataset_config)
    # the dataset's raw files and job resources are no run settings (onepass.datasets.registry)
    dataset = {key: value for key, value in dataset.items() if key not in DATA_SECTIONS}
    for key in dataset:
        _refuse_renamed(key)
        if key not in DEFAULTS:
            raise ConfigError(f"dataset config: unknown key '{key}'; allowed: {_known(DEFAULTS)}")
    config = merge(DEFAULTS, dataset)
    for key, value in override_items(overrides):
        if key in FIXED_KEYS:
            raise ConfigError(
                f"config key '{key}': is fixed by the dataset config and cannot be overridden; "
                "choose another --dataset-config (or dataset in the pipeline config) instead"
            )
        set_dotted(config, key, value)
    validate(config)
    return config


def override_items(overrides: dict[str, Any] | list[str] | None) -> list[tuple[str, Any]]:
    """User overrides as (dotted key, value) pairs, from a mapping or from ``key=value`` strings."""
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        return [(key, _yaml11_number(value)) for key, value in _flatten(overrides)]
    return [parse_assignment(text) for text in overrides]


def _flatten(mapping: dict[str, Any], prefix: str = ""):
    """Yield dotted keys, descending into sections (``{init: {momentum: 0.6}}`` -> ``init.momentum``)."""
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and key in SECTIONS and section_keys(key):
            yield from _flatten(value, dotted + ".")
        else:
            yield dotted, value

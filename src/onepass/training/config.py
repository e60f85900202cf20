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

import copy
import math
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration problem a user can fix; the message names the key."""


DEFAULTS: dict[str, Any] = {
    "dataset": None,
    "task": None,
    "model": {},
    "test_size": None,
    # Shape of one row of data.pt (UCI: [columns]); null: not checked. The token stream of a
    # language model is one-dimensional and needs none.
    "input_shape": None,
    "validation_proportion": 0.0,
    "batch_size": None,
    "streams": 40,
    "network_weight_steps": 10,
    "hyperparameter_steps": 400,
    "lookback": 5,
    "normalise_inputs": True,
    "normalise_outputs": False,
    "grad_clip_norm": None,
    "divergence_threshold": None,
    "log_every": 1,
    "hyperparameter_optimiser": {"lr": 0.05},
    "baydin_lr": 0.001,
    "clipping": {"lr": [-10.0, 0.0]},
    # Explicit initial hyperparameters (natural units). ``None`` means: draw from the seed.
    "lr": None,
    "weight_decay": None,
    "momentum": None,
    "lr_multiplier": None,
    # Ranges of the seeded draws (the paper's: log-uniform lr and weight decay, uniform momentum,
    # and Random_SteppedLR's lr multiplier). ``init.momentum`` may be a single number to
    # fix momentum for every seed (the ProofOfConcept experiment does this).
    "init": {
        "lr_log10": [-6.0, -1.0],
        "weight_decay_log10": [-7.0, -2.0],
        "momentum": [0.0, 1.0],
        "lr_multiplier": [0.95, 1.01],
    },
    # Long Diff-through-Opt restarts training from the initial weights after each hyperparameter step.
    "reset_weights_after_hyperparameter_step": False,
    # How the analysis presents the dataset (label, metric, table scale, BayesOpt penalty): facts of
    # the dataset, kept in its YAML beside its training settings; training does not read them.
    "report": {},
    # Fidelity switch (docs/FIDELITY.md): evaluate logged validation losses with the model in train
    # mode, as the authors did (BatchNorm statistics then see validation batches).
    "validation_in_train_mode": True,
    # Fidelity switch (docs/FIDELITY.md): a non-optimised lr outside ``clipping.lr`` ends the run
    # after its first hyperparameter window, as the authors' range check did.
    "fail_on_unclipped_fixed_lr": True,
}

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


def package_dataset_ids() -> list[str]:
    """The dataset ids with a configuration shipped in the package."""
    folder = resources.files("onepass") / "configs" / "datasets"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_dataset_config(name_or_path: str | Path) -> dict[str, Any]:
    """Load a dataset configuration by package id (``uci_energy``) or YAML path."""
    text_name = str(name_or_path)
    path = Path(text_name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"--dataset-config: file '{path}' does not exist")
        source = str(path)
        text = path.read_text()
    else:
        ids = package_dataset_ids()
        if text_name not in ids:
            raise ConfigError(
                f"--dataset-config: unknown dataset '{text_name}'; allowed: {', '.join(ids)} (or a path to a YAML file)"
            )
        source = f"onepass/configs/datasets/{text_name}.yaml"
        text = (resources.files("onepass") / "configs" / "datasets" / f"{text_name}.yaml").read_text()
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: malformed YAML: {error}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{source}: expected a mapping of settings, got {type(loaded).__name__}")
    return loaded


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
        raise ConfigError(f"unknown config key '{key}'; allowed: {_known(config)}")
    if node is not config and parts[0] == "model" and last not in MODEL_KEYS:
        raise ConfigError(f"unknown config key '{key}'; allowed model keys: {', '.join(sorted(MODEL_KEYS))}")
    if node is not config and parts[0] != "model" and last not in node:
        raise ConfigError(f"unknown config key '{key}'; allowed: {', '.join(sorted(node))}")
    node[last] = value


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
    for key in dataset:
        if key not in DEFAULTS:
            raise ConfigError(f"dataset config: unknown key '{key}'; allowed: {_known(DEFAULTS)}")
    config = merge(DEFAULTS, dataset)
    for key, value in override_items(overrides):
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
    """Yield dotted keys; sections that are whole values (clipping.lr lists) stay whole."""
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and key in SECTIONS:
            yield from _flatten(value, dotted + ".")
        else:
            yield dotted, value


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

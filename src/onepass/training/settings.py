"""The one table of run settings: each defined once, everything else derived from it.

A setting used to be written down four times (the defaults, the checks, the typed ``RunConfig``
and the ``--help`` text), and the copies drifted: the same window length was ``update_interval``
in ``HyperSGD``, ``network_weight_steps`` in configs and T in the paper. Each :class:`Setting`
below holds a setting's name (the ``HyperSGD`` keyword where there is one, dotted inside a
section), its Python type, default, allowed values and one-line doc, and the paper's symbol.
From it come :data:`onepass.training.config.DEFAULTS`, the checks of
:func:`onepass.training.run_config.validate` (errors name the key), the fields of
:class:`onepass.training.run_config.RunConfig` (``tests/test_settings.py`` checks they agree),
the ``--set`` list of ``python -m onepass train --help`` and the ``overrides`` keys of
``workflow/schemas/config.schema.yaml`` (also compared by that test).

This module imports nothing from the package, so every layer may read the table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RENAMED",
    "SECTIONS",
    "SETTINGS",
    "Setting",
    "document_defaults",
    "help_lines",
    "override_keys",
    "renamed_error",
    "setting",
]


# ---- the allowed values: one predicate each, with the words an error uses -----------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_range(value: Any) -> bool:
    pair = isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_number(v) for v in value)
    return pair and value[0] <= value[1]


def _positive_int(value: Any) -> bool:
    return _is_int(value) and value >= 1


def _positive_ints(value: Any) -> bool:
    return isinstance(value, list) and all(_positive_int(v) for v in value)


def _or_none(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _positive(value: Any) -> bool:
    return _is_number(value) and value > 0


def _unit_interval(value: Any) -> bool:
    """[0, 1): a proportion that leaves something, or a momentum that decays."""
    return _is_number(value) and 0 <= value < 1


def _non_negative(value: Any) -> bool:
    return _is_number(value) and value >= 0


def _bool(value: Any) -> bool:
    return isinstance(value, bool)


def _one_of(*allowed: Any) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and value in allowed


def _momentum_init(value: Any) -> bool:
    return _unit_interval(value) or (_is_range(value) and 0 <= value[0] and value[1] <= 1)


#: ``normalise_inputs`` besides true/false (standardise per feature or not): CIFAR-10's fixed statistics.
CIFAR_NORMALISATIONS = ("cifar_unscaled", "cifar_scaled")
ALLOWED_TASKS = ("regression", "classification", "language_model")
ALLOWED_MODELS = ("mlp", "lstm", "resnet18")


def _tuple(value: Any) -> Any:
    """YAML lists become tuples in the frozen RunConfig (hashable, immutable)."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _float_pair(value: Any) -> Any:
    return None if value is None else (float(value[0]), float(value[1]))


# ---- the table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One run setting. ``name`` is dotted inside a section (``init.momentum``); ``type`` is the
    annotation of its ``RunConfig`` field; ``check`` and ``expects`` say what is allowed
    ("config key 'x': must be <expects>, got ..."); ``typed`` turns the YAML value into the field's
    value; ``fixed`` settings come from the dataset config and cannot be overridden; ``optional``
    ones may be absent from a document (the default then applies when it is typed); ``in_run``
    False: read elsewhere (the ``report:`` facts), not a ``RunConfig`` field."""

    name: str
    type: str
    default: Any
    check: Callable[[Any], bool]
    expects: str
    doc: str
    symbol: str = ""
    typed: Callable[[Any], Any] = lambda value: value
    fixed: bool = False
    optional: bool = False
    in_run: bool = True

    @property
    def section(self) -> str | None:
        """The section holding a dotted setting (``init`` for ``init.momentum``), else None."""
        return self.name.split(".")[0] if "." in self.name else None

    @property
    def key(self) -> str:
        """The name inside its section (``momentum`` for ``init.momentum``)."""
        return self.name.split(".")[-1]


def _section(name: str, doc: str, fixed: bool = False, in_run: bool = True) -> Setting:
    return Setting(
        name, "dict", {}, lambda v: isinstance(v, dict), "a section of settings", doc, fixed=fixed, in_run=in_run
    )


_POSITIVE_INT = "a positive integer"

#: Every run setting, in the order errors are looked for (sections first: their keys need them).
SETTINGS: tuple[Setting, ...] = (
    _section("model", "the network (fixed by the dataset config, except the keys below)", fixed=True),
    _section("init", "ranges of the seeded draws of the initial hyperparameters"),
    _section("report", "how the analysis reports the dataset (label, metric, ...); training ignores it", in_run=False),
    Setting("dataset", "str", None, lambda v: isinstance(v, str), "a dataset id, e.g. uci_energy",
            "the dataset id (the folder under --data-dir)", fixed=True),
    Setting("task", "str", None, _one_of(*ALLOWED_TASKS), "one of " + ", ".join(ALLOWED_TASKS),
            "what the network predicts", fixed=True),
    Setting("model.type", "str", None, _one_of(*ALLOWED_MODELS), "one of " + ", ".join(ALLOWED_MODELS),
            "the network", fixed=True),
    Setting("model.hidden_sizes", "tuple[int, ...]", [50], _positive_ints,
            "a list of positive layer widths, e.g. [50]", "MLP hidden layer widths", typed=_tuple, optional=True),
    Setting("model.batch_norm", "bool", False, _bool, "true or false", "BatchNorm MLP variant", optional=True),
    Setting("model.embedding_size", "int | None", None, _or_none(_positive_int), _POSITIVE_INT,
            "LSTM word embedding size", optional=True),
    Setting("model.hidden_size", "int | None", None, _or_none(_positive_int), _POSITIVE_INT,
            "LSTM hidden size", optional=True),
    Setting("model.num_layers", "int | None", None, _or_none(_positive_int), _POSITIVE_INT,
            "LSTM layers", optional=True),
    Setting("model.vocab_size", "int | None", None, _or_none(_positive_int), _POSITIVE_INT,
            "vocabulary size (null: from the data)", optional=True),
    Setting("test_size", "int", None, _positive_int, _POSITIVE_INT,
            "rows (PTB: tokens) held out at the end for testing"),
    Setting("input_shape", "tuple[int, ...] | None", None, _or_none(lambda v: bool(v) and _positive_ints(v)),
            "a list of positive sizes (one row of data.pt, e.g. [8]) or null",
            "shape of one row of data.pt, checked on load (null: not checked)", typed=_tuple),
    Setting("validation_proportion", "float", 0.0, _unit_interval, "in [0, 1)",
            "share of train+validation held out for validation"),
    Setting("batch_size", "int | None", None, _or_none(_positive_int), "a positive integer or null",
            "batch size (null: full batch)"),
    Setting("streams", "int", 40, _positive_int, _POSITIVE_INT, "parallel token streams of a language model"),
    Setting("update_interval", "int", 10, _positive_int, _POSITIVE_INT,
            "weight steps per hyperparameter step", symbol="T"),
    Setting("hyperparameter_steps", "int", 400, _positive_int, _POSITIVE_INT,
            "hyperparameter steps; a run has T*H weight steps", symbol="H"),
    Setting("lookback", "int", 5, _positive_int, _POSITIVE_INT, "Neumann terms / unrolled steps", symbol="i"),
    Setting("normalise_inputs", "bool | str", True, lambda v: _bool(v) or v in CIFAR_NORMALISATIONS,
            "true, false, cifar_unscaled or cifar_scaled", "standardise inputs per feature (or CIFAR-10's statistics)"),
    Setting("normalise_outputs", "bool", False, _bool, "true or false", "standardise regression targets"),
    Setting("grad_clip_norm", "float | None", None, _or_none(_positive), "positive or null",
            "clip the weight gradient's norm (null: no clipping)"),
    Setting("divergence_threshold", "float | None", None, _or_none(_positive), "a positive number or null",
            "a loss above it ends the run as diverged (null: only NaN/inf)"),
    Setting("log_every", "int", 1, _positive_int, _POSITIVE_INT,
            "log every N-th step (the first and last are always logged)"),
    Setting("hyper_lr", "float", 0.05, _positive, "positive", "Adam step size on the raw hyperparameters"),
    Setting("baydin_lr", "float", 0.001, _positive, "positive", "Baydin's hypergradient step size"),
    Setting("lr_clip", "tuple[float, float] | None", [-10.0, 0.0], _or_none(_is_range),
            "[low, high] in log10 units or null", "log10 lr bounds after each hyperparameter step (null: none)",
            typed=_float_pair),
    Setting("lr", "float | None", None, _or_none(_positive), "a positive number (natural units)",
            "explicit initial lr (null: drawn from the seed)"),
    Setting("weight_decay", "float | None", None, _or_none(_non_negative), "a positive number (natural units)",
            "explicit initial weight decay (null: drawn)"),
    Setting("momentum", "float | None", None, _or_none(_unit_interval), "in [0, 1)",
            "explicit initial momentum (null: drawn)"),
    Setting("lr_multiplier", "float | None", None, _or_none(_positive), "a positive number (natural units)",
            "explicit lr multiplier of Random_SteppedLR (null: drawn)"),
    Setting("init.lr_log10", "tuple[float, float]", [-6.0, -1.0], _is_range, "[low, high]",
            "log10 range of the initial lr", typed=_tuple),
    Setting("init.weight_decay_log10", "tuple[float, float]", [-7.0, -2.0], _is_range, "[low, high]",
            "log10 range of the initial weight decay", typed=_tuple),
    Setting("init.momentum", "tuple[float, float] | float", [0.0, 1.0], _momentum_init,
            "[low, high] within [0, 1] or a fixed number in [0, 1)", "range of the initial momentum, or a fixed value",
            typed=_tuple),
    Setting("init.lr_multiplier", "tuple[float, float]", [0.95, 1.01], _is_range, "[low, high]",
            "range of Random_SteppedLR's lr multiplier", typed=_tuple),
    Setting("reset_weights_after_hyperparameter_step", "bool", False, _bool, "true or false",
            "restart from the initial weights after each hyperparameter step (Long Diff-through-Opt)"),
    Setting("validation_in_train_mode", "bool", True, _bool, "true or false",
            "evaluate logged validation losses in train mode, as the authors did (docs/FIDELITY.md)"),
    Setting("fail_on_unclipped_fixed_lr", "bool", True, _bool, "true or false",
            "a fixed lr outside lr_clip ends the run after its first window, as the authors' check did"),
)  # fmt: skip

_BY_NAME = {s.name: s for s in SETTINGS}

#: Sections: mappings set key by key (``init.momentum=0.6``), never replaced by a value.
SECTIONS = tuple(s.name for s in SETTINGS if s.type == "dict")

#: Old names of renamed settings: a config using one gets an error naming the new one, not an alias.
RENAMED = {
    "network_weight_steps": "update_interval",
    "hyperparameter_optimiser": "hyper_lr",
    "hyperparameter_optimiser.lr": "hyper_lr",
    "clipping": "lr_clip",
    "clipping.lr": "lr_clip",
}


def setting(name: str) -> Setting:
    """The table entry of a dotted name (KeyError if there is none)."""
    return _BY_NAME[name]


def renamed_error(key: str) -> str | None:
    """The one-line error for an old setting name, or None if ``key`` was not renamed."""
    if key not in RENAMED:
        return None
    return f"config key '{key}' was renamed to '{RENAMED[key]}'; write {RENAMED[key]} instead"


def document_defaults() -> dict[str, Any]:
    """The defaults as a configuration document: top-level settings, sections holding their
    non-optional keys (optional ones, the ``model.*`` sizes, come from the dataset YAML)."""
    document: dict[str, Any] = {}
    for entry in SETTINGS:
        if entry.section is None:
            document[entry.name] = {} if entry.type == "dict" else _copy(entry.default)
        elif not entry.optional:
            document[entry.section][entry.key] = _copy(entry.default)
    return document


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def section_keys(section: str) -> list[str]:
    """The keys a section accepts (``model`` -> type, hidden_sizes, ...)."""
    return [s.key for s in SETTINGS if s.section == section]


def override_keys() -> list[str]:
    """The names an ``overrides`` mapping (or ``--set``) may use: every setting that is not fixed
    by the dataset config, and the sections holding one (for the nested spelling)."""
    names = [s.name for s in SETTINGS if not s.fixed and s.in_run and s.type != "dict"]
    sections = [name for name in SECTIONS if any(n.startswith(f"{name}.") for n in names)]
    return sections + names


def help_lines() -> list[str]:
    """``--set`` help: one line per overridable setting, with its default and doc."""
    lines = []
    for entry in SETTINGS:
        if entry.fixed or not entry.in_run or entry.type == "dict":
            continue
        symbol = f" ({entry.symbol})" if entry.symbol else ""
        assignment = f"{entry.name}={_yaml_text(entry.default)}"
        gap = "\n" + " " * 34 if len(assignment) > 31 else " " * (32 - len(assignment))
        lines.append(f"  {assignment}{gap}{entry.doc}{symbol}")
    return lines


def _yaml_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(_yaml_text(v) for v in value) + "]"
    return str(value)

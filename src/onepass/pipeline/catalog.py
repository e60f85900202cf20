"""The dataset catalog: each registered dataset's job resources, merged and checked.

A training job's resources come from the ``resources:`` section of its dataset's registry YAML
(``onepass/configs/datasets/<id>.yaml``), over :data:`DEFAULTS`; a pipeline config may name an
override file (config key ``catalog``) whose ``defaults:`` apply to every dataset and whose
``datasets: {<id>: {...}}`` entries apply to one, so a cluster user changes memory or runtime
without editing the package::

    defaults: {threads: 2}                              # optional, every dataset
    datasets:
      fashion_mnist: {mem_mb: 8000, runtime_per_seed: {default: 20}}

Keys (one value, or ``{default: x, <Algorithm>: x}`` where marked per algorithm):
  gpu               true: training jobs request ``gpu=1`` (the slurm profile turns it into a GPU
                    request; locally ``--resources gpu=N`` caps concurrency and the CLI falls back
                    to the CPU when no GPU exists).
  threads           cores per training job (also exported as OMP_NUM_THREADS).
  chunk_size        seeds per training job (per algorithm).
  mem_mb            memory per training job (per algorithm).
  runtime_overhead  minutes a job needs besides its seeds.
  runtime_per_seed  minutes one seed needs at the dataset's own T x H (per algorithm). A job asks
                    for runtime_overhead + runtime_per_seed x seeds x (T*H)/(T0*H0).

T0 and H0 are the dataset's ``update_interval`` and ``hyperparameter_steps`` training settings
(the same YAML), derived here rather than written twice; the merged entries carry them under those
names for the runtime scaling. Every value becomes a job count, a resource request or a runtime, so
a wrong one does damage quietly (``chunk_size: -5`` planned no training job at all): each is checked
when the Snakefile is parsed, and a key written twice is refused, with the file and the key path in
the one-line message.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from onepass.datasets.errors import RegistryError
from onepass.datasets.registry import DATASET_IDS, dataset_section, registry_path
from onepass.training.algorithms import ALGORITHMS
from onepass.training.config import build_config
from onepass.training.settings import RENAMED
from onepass.yaml_files import DuplicateKeyError, load_unique_yaml

from .errors import fail


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _non_negative_number(value: Any) -> bool:
    return _positive_number(value) or (isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0)


# key: (check of one value, wording, may it be given per algorithm)
SCHEMA = {
    "gpu": (lambda v: isinstance(v, bool), "true or false", False),
    "threads": (_positive_int, "a positive integer", False),
    "chunk_size": (_positive_int, "a positive integer", True),
    "mem_mb": (_positive_int, "a positive integer (MB)", True),
    "runtime_overhead": (_non_negative_number, "a non-negative number (minutes)", False),
    "runtime_per_seed": (_positive_number, "a positive number (minutes)", True),
}

#: The value of every key a dataset's ``resources:`` leaves out.
DEFAULTS: dict[str, Any] = {
    "gpu": False,
    "threads": 1,
    "chunk_size": 200,
    "mem_mb": 2000,
    "runtime_overhead": 5,
    "runtime_per_seed": 0.5,
}

#: Training settings copied into each entry: T0 and H0 of the runtime scaling.
TRAINING_KEYS = ("update_interval", "hyperparameter_steps")


def load_catalog(path: Path | None = None, shown: str | None = None) -> dict[str, dict[str, Any]]:
    """Every registered dataset's resources: DEFAULTS < its ``resources:`` < the override file ``path``.

    `shown` is the override file's path as the user gave it (errors quote that, not the resolved one).
    """
    override_defaults, override_datasets = ({}, {}) if path is None else _read_override(path, shown or str(path))
    catalog = {}
    for dataset in DATASET_IDS:
        try:
            own = dataset_section(dataset, "resources") or {}
        except RegistryError as error:
            fail("catalog", str(error))
        if not isinstance(own, dict):
            fail("catalog", f"{registry_path(dataset)}: resources: must be a mapping of settings")
        check_entry(own, f"{registry_path(dataset)}: resources")
        training = build_config(dataset)
        catalog[dataset] = {
            **DEFAULTS,
            **own,
            **override_defaults,
            **override_datasets.get(dataset, {}),
            **{key: training[key] for key in TRAINING_KEYS},
        }
    return catalog


def _read_override(path: Path, shown: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """An override file's ``defaults`` and ``datasets`` entries, each checked (keys starting with
    ``_`` at the top level may hold YAML anchors)."""
    if not path.is_file():
        fail("catalog", f"catalog file '{shown}' does not exist")
    try:
        raw = load_unique_yaml(path.read_text(encoding="utf-8"), shown)
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        fail("catalog", f"'{shown}' is not valid YAML ({' '.join(str(error).split())[:200]})")
    except DuplicateKeyError as error:
        fail("catalog", str(error))
    sections = [raw.get(key) for key in ("datasets", "defaults")] if isinstance(raw, dict) else []
    if not any(isinstance(section, dict) for section in sections):
        fail("catalog", f"'{shown}' has neither a 'datasets' nor a 'defaults' mapping")
    for key in raw:
        if key not in ("defaults", "datasets") and not str(key).startswith("_"):
            fail("catalog", f"{shown}: {key}: unknown top-level key; allowed: defaults, datasets (and _anchors)")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        fail("catalog", f"{shown}: defaults: must be a mapping")
    check_entry(defaults, f"{shown}: defaults")
    datasets = raw.get("datasets") or {}
    if not isinstance(datasets, dict):
        fail("catalog", f"{shown}: datasets: must be a mapping of dataset ids")
    for name, entry in datasets.items():
        if name not in DATASET_IDS:
            fail(
                "catalog",
                f"{shown}: datasets.{name}: no such dataset in the registry (known: {', '.join(DATASET_IDS)})",
            )
        if entry is not None and not isinstance(entry, dict):
            fail("catalog", f"{shown}: datasets.{name}: must be a mapping of settings")
        check_entry(entry or {}, f"{shown}: datasets.{name}")
    return defaults, {name: entry or {} for name, entry in datasets.items()}


def check_entry(entry: dict[str, Any], where: str) -> None:
    """The keys an entry sets: each one of SCHEMA, with a valid value (the rest come from DEFAULTS)."""
    for key in entry:
        if key not in SCHEMA:
            derived = key in TRAINING_KEYS or RENAMED.get(key) in TRAINING_KEYS
            also = " (derived from the dataset's training settings)" if derived else ""
            fail("catalog", f"{where}.{key}: unknown key{also}; allowed: {', '.join(SCHEMA)}")
    for key, (check, wording, per_algorithm) in SCHEMA.items():
        if key not in entry:
            continue
        value = entry[key]
        if per_algorithm and isinstance(value, dict):
            for algorithm, item in value.items():
                if algorithm != "default" and algorithm not in ALGORITHMS:
                    fail("catalog", f"{where}.{key}.{algorithm}: not 'default' nor an algorithm name")
                if not check(item):
                    fail("catalog", f"{where}.{key}.{algorithm}: must be {wording}, got {item!r}")
        elif not check(value):
            also = ", or {default: x, <Algorithm>: x}" if per_algorithm else ""
            fail("catalog", f"{where}.{key}: must be {wording}{also}, got {value!r}")

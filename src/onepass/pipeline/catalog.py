"""The dataset catalog (config/datasets.yaml): read, merged over its defaults, and checked.

Every value of the catalog becomes a job count, a resource request or a runtime, so a wrong one
does damage quietly: `chunk_size: -5` planned no training job at all, `0` failed inside `range()`.
Each entry is checked here against a small schema when the Snakefile is parsed, and a key written
twice is refused, with the catalog file and the key path in the one-line message.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from onepass.training.algorithms import ALGORITHMS
from onepass.training.settings import RENAMED
from onepass.yaml_files import DuplicateKeyError, load_unique_yaml

from .errors import fail


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _positive_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )


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
    "update_interval": (_positive_int, "a positive integer", False),
    "hyperparameter_steps": (_positive_int, "a positive integer", False),
}


def load_catalog(path: Path, shown: str | None = None) -> dict[str, dict[str, Any]]:
    """Read the dataset catalog: `datasets` entries merged over `defaults`, each checked.

    `shown` is the path as the user gave it (errors quote that, not the resolved one).
    """
    shown = shown or str(path)
    if not path.is_file():
        fail("catalog", f"catalog file '{shown}' does not exist")
    try:
        raw = load_unique_yaml(path.read_text(encoding="utf-8"), shown) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        fail("catalog", f"'{shown}' is not valid YAML ({' '.join(str(error).split())[:200]})")
    except DuplicateKeyError as error:
        fail("catalog", str(error))
    if not isinstance(raw, dict) or not isinstance(raw.get("datasets"), dict) or not raw["datasets"]:
        fail("catalog", f"'{shown}' has no 'datasets' mapping")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        fail("catalog", f"{shown}: defaults: must be a mapping")
    catalog = {}
    for name, entry in raw["datasets"].items():
        if entry is not None and not isinstance(entry, dict):
            fail("catalog", f"{shown}: datasets.{name}: must be a mapping of settings")
        merged = {**defaults, **(entry or {})}
        check_entry(merged, f"{shown}: datasets.{name}")
        catalog[name] = merged
    return catalog


def check_entry(entry: dict[str, Any], where: str) -> None:
    """One merged catalog entry: every key of SCHEMA present, valid, and nothing else."""
    for key in entry:
        if key in RENAMED:
            fail("catalog", f"{where}.{key}: was renamed to '{RENAMED[key]}'; write {RENAMED[key]} instead")
        if key not in SCHEMA:
            fail("catalog", f"{where}.{key}: unknown key; allowed: {', '.join(SCHEMA)}")
    for key, (check, wording, per_algorithm) in SCHEMA.items():
        if key not in entry:
            fail("catalog", f"{where}.{key}: missing (and not in defaults)")
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

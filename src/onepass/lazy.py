"""Lazy package attributes: ``from onepass.x import name`` without importing what ``name`` needs
until it is used.

The rule files import small parts of several packages while Snakemake parses the workflow, and
``import onepass.datasets`` must not pay for torch; so packages name their public attributes and
the module each lives in, and :func:`lazy_attributes` loads a module on first access (PEP 562).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``exports`` maps a name to its relative module."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = exports[name] if exports[name].startswith(".") else f".{exports[name]}"
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value  # later accesses skip __getattr__
        return value

    return __getattr__

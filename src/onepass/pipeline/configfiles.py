"""The config files themselves: a key written twice in one mapping is an error.

YAML loaders (Snakemake's included) keep the last of two equal keys, so a second experiment with
the name of an earlier one silently replaces it. The files are re-read here, only to find such
keys, with the path of the key and both line numbers in the message.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from onepass.yaml_files import DuplicateKeyLoader

from .errors import fail


def check_config_files(paths: Iterable[str | Path]) -> None:
    """Fail on the first key written twice in one mapping of any of these config files.

    Files that do not exist or are not YAML are left to Snakemake, which reports them itself.
    """
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
            duplicates = DuplicateKeyLoader(text).duplicate_keys()
        except (OSError, yaml.YAMLError):
            continue
        for key, first, again in duplicates:
            fail(key, f"written twice in {path} (lines {first} and {again}); YAML would keep only the last")

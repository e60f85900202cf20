"""The dataset registry: one YAML file per dataset in the package, the one place a dataset is described.

``onepass/configs/datasets/<id>.yaml`` holds, for one dataset id, everything the code knows about it:

- its training settings (task, model, splits, T and H, ...), read by ``onepass.training.config``;
- ``report:``, how the analysis reports it (``onepass.training.dataset_facts``);
- ``source:``, its raw files (url, sha256, size, mirror path, raw name) and preprocessing options
  (:mod:`.sources`);
- ``resources:``, what one of its training jobs asks of a scheduler (``onepass.pipeline.catalog``).

The files ship with the package, so a ``pip install``-ed copy knows every dataset, and the ids below
are the file names: adding a dataset is adding one file. Each consumer reads only its own sections.
Standard library and PyYAML only: the rule files read the registry while Snakemake parses the workflow.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

import yaml

from ..yaml_files import DuplicateKeyError, load_unique_yaml
from .errors import RegistryError

#: The sections of a dataset YAML that describe the dataset to the data and pipeline layers; a run's
#: settings are the rest (training ignores these two, as it ignores ``report:``).
DATA_SECTIONS = ("source", "resources")


def _folder():
    return resources.files("onepass") / "configs" / "datasets"


def _ids() -> tuple[str, ...]:
    return tuple(sorted(p.name[: -len(".yaml")] for p in _folder().iterdir() if p.name.endswith(".yaml")))


#: Every dataset id of the registry (the YAML file names), sorted.
DATASET_IDS: tuple[str, ...] = _ids()


def registry_path(dataset: str) -> str:
    """How errors name a dataset's YAML: its path inside the package (``src/`` in a checkout)."""
    return f"onepass/configs/datasets/{dataset}.yaml"


def read_dataset_yaml(text: str, shown: str) -> dict[str, Any]:
    """Parse one dataset description (a registry file, or a user's own YAML for ``onepass train``).

    The one reader of the format, so a key written twice, bad YAML or a non-mapping is refused with
    the same words wherever a dataset file is read. ``shown`` is how messages name the file.
    """
    try:
        document = load_unique_yaml(text, shown)
    except yaml.YAMLError as error:
        raise RegistryError(f"{shown}: not valid YAML: {' '.join(str(error).split())}") from None
    except DuplicateKeyError as error:
        raise RegistryError(str(error)) from None
    if not isinstance(document, dict):
        raise RegistryError(f"{shown}: expected a mapping of settings and sections, got {type(document).__name__}")
    return document


@cache
def _registered(dataset: str) -> dict[str, Any]:
    if dataset not in DATASET_IDS:
        raise RegistryError(
            f"no dataset {dataset!r} in the registry (known: {', '.join(DATASET_IDS)}); "
            f"add {registry_path(dataset)} to describe it"
        )
    text = (_folder() / f"{dataset}.yaml").read_text(encoding="utf-8")
    return read_dataset_yaml(text, registry_path(dataset))


def dataset_document(dataset: str) -> dict[str, Any]:
    """The whole YAML mapping of one registered dataset: parsed once per process, a copy per call."""
    return copy.deepcopy(_registered(dataset))


def dataset_section(dataset: str, section: str) -> Any:
    """One section (``source``, ``resources``) of a registered dataset; ``None`` when it has none."""
    return dataset_document(dataset).get(section)

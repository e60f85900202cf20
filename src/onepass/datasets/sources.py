"""Where each dataset's raw files come from, what they must hash to, and the kinds of dataset.

Each dataset's registry YAML (:mod:`.registry`) has a ``source:`` section: its ``kind`` (which
preprocessing applies; :data:`KINDS`), its raw files and kind-specific ``options``. Each raw file has
an upstream ``url``, a ``sha256``, a ``mirror`` path (relative to a local mirror folder laid out like
the upstream sources) and a ``raw`` file name (it is stored at ``resources/raw/<id>/<raw>``). A
sources *override file* (``datasets: {<id>: <source entry>}``, the pipeline config key ``sources``)
replaces the entries of the datasets it names, so tests and mirrors can point at other files. A
missing sha256 is not an error when a source is *read*, only when a file is fetched or used: one
unverifiable source must not stop the rest of the workflow from being planned, but it must never be
used unverified.

:data:`KINDS` is the one table of kinds: what a kind's raw files are, what it writes, which options
it takes, which function builds it and how much memory that needs. Adding a kind is one entry there
plus the module of its builder (and a preprocess rule in ``rules/data.smk`` if its outputs differ
from those of ``preprocess`` and ``preprocess_text``). Builders are named, not imported, so that
reading the table (as the rule files do while Snakemake parses the workflow) loads no torch.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ..yaml_files import DuplicateKeyError, load_unique_yaml
from .errors import SourceConfigError
from .registry import DATASET_IDS, dataset_section, registry_path

RAW_ROOT = "resources/raw"
DATA_ROOT = "resources/data"
#: The raw files that ship with the repository (the UCI sets), laid out like a data mirror.
EMBEDDED_ROOT = "data"

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class RawFile:
    """One raw file of a dataset, as recorded in its ``source:`` section (or a sources override file)."""

    dataset: str
    key: str
    url: str
    mirror: str
    raw: str
    sha256: str | None = None
    size: int | None = None
    sources_path: str = ""  # the file it was read from (the registry YAML or an override file)
    entry: str = ""  # the key path of its dataset's entry there: ``source`` or ``datasets.<id>``

    @property
    def config_key(self) -> str:
        """The dotted key of this entry in its file, for error messages."""
        return f"{self.entry or f'datasets.{self.dataset}'}.files.{self.key}"

    def raw_path(self, raw_root: str | os.PathLike = RAW_ROOT) -> Path:
        """Where the fetched file is stored: ``<raw_root>/<dataset>/<raw>``."""
        return Path(raw_root) / self.dataset / self.raw

    def mirror_path(self, mirror: str | os.PathLike) -> Path:
        """The file's location inside a local mirror folder."""
        return Path(mirror).expanduser() / self.mirror

    def require_sha256(self) -> str:
        """The recorded sha256, or an error naming the key: files are never used unverified."""
        if self.sha256 is None:
            hint = f" (expected size {self.size} bytes)" if self.size else ""
            raise SourceConfigError(
                f"{self.sources_path}: no sha256 recorded for {self.config_key}.sha256 "
                f"({self.url}). Verification is mandatory: compute it from a copy you trust "
                f"(`sha256sum {self.raw}`{hint}) and record it under that key."
            )
        return self.sha256


@dataclass(frozen=True)
class DatasetSource:
    """A dataset id with its kind, raw files (by key) and preprocessing options."""

    id: str
    kind: str
    files: dict[str, RawFile]
    options: dict[str, Any] = field(default_factory=dict)

    def outputs(self, data_root: str | os.PathLike = DATA_ROOT) -> list[Path]:
        """The preprocessed files this dataset produces."""
        return [Path(data_root) / self.id / name for name in KINDS[self.kind].outputs]


def source_document(source: DatasetSource) -> dict[str, Any]:
    """The YAML-like mapping of one dataset (inverse of :func:`parse_source`).

    The workflow passes it to its jobs as a rule parameter, so that a changed URL, sha256 or option
    makes Snakemake rebuild exactly the affected files.
    """
    files = {
        key: {"url": f.url, "sha256": f.sha256, "size": f.size, "mirror": f.mirror, "raw": f.raw}
        for key, f in source.files.items()
    }
    return {"kind": source.kind, "files": files, "options": dict(source.options)}


def _fail(path: str, key: str, problem: str) -> SourceConfigError:
    return SourceConfigError(f"{path}: {key}: {problem}")


def _relative_posix(path: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(path, key, "must be a non-empty relative path string")
    pure = PurePosixPath(value)
    if pure.is_absolute() or ".." in pure.parts or "\\" in value:
        raise _fail(path, key, f"{value!r} must be a relative path without '..'")
    return value


def parse_raw_file(path: str, dataset: str, key: str, entry: Any, entry_key: str | None = None) -> RawFile:
    """Validate one raw-file entry (``<entry_key>.files.<key>`` of the file ``path``).

    ``entry_key`` is the dataset entry's key path there: ``source`` in a registry YAML,
    ``datasets.<dataset>`` (the default) in a sources override file.
    """
    entry_key = entry_key or f"datasets.{dataset}"
    where = f"{entry_key}.files.{key}"
    if not isinstance(entry, dict):
        raise _fail(path, where, "must be a mapping with url, sha256, mirror and raw")
    unknown = set(entry) - {"url", "sha256", "mirror", "raw", "size"}
    if unknown:
        raise _fail(path, where, f"unknown keys {sorted(unknown)}")
    for required in ("url", "mirror", "raw"):
        if required not in entry:
            raise _fail(path, f"{where}.{required}", "is missing")
    url = entry["url"]
    if not isinstance(url, str) or "://" not in url:
        raise _fail(path, f"{where}.url", f"{url!r} is not a URL")
    sha = entry.get("sha256")
    if sha is not None:
        if not isinstance(sha, str) or not _SHA256.match(sha.lower()):
            raise _fail(path, f"{where}.sha256", f"{sha!r} is not a 64-hex-digit sha256")
        sha = sha.lower()
    raw = entry["raw"]
    if not isinstance(raw, str) or not _FILE_NAME.match(raw) or raw in (".", ".."):
        raise _fail(path, f"{where}.raw", f"{raw!r} must be a plain file name (stored under {RAW_ROOT}/<id>/)")
    size = entry.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise _fail(path, f"{where}.size", f"{size!r} must be a non-negative integer")
    return RawFile(
        dataset=dataset,
        key=key,
        url=url,
        mirror=_relative_posix(path, f"{where}.mirror", entry["mirror"]),
        raw=raw,
        sha256=sha,
        size=size,
        sources_path=path,
        entry=entry_key,
    )


def parse_source(path: str, where: str, dataset: str, spec: Any) -> DatasetSource:
    """Validate one dataset's source entry, found at key path ``where`` of the file ``path``."""
    if not isinstance(dataset, str) or not _ID.match(dataset):
        raise _fail(path, where, "dataset ids are lower-case letters, digits and '_'")
    if not isinstance(spec, dict):
        raise _fail(path, where, "must be a mapping with kind, files and options")
    unknown = set(spec) - {"kind", "files", "options"}
    if unknown:
        raise _fail(path, where, f"unknown keys {sorted(unknown)}; allowed: files, kind, options")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise _fail(path, f"{where}.kind", f"{kind!r} is not one of {sorted(KINDS)}")
    files = spec.get("files")
    if not isinstance(files, dict):
        raise _fail(path, f"{where}.files", "must be a mapping of file keys to entries")
    needed = set(KINDS[kind].files)
    if set(files) != needed:
        raise _fail(path, f"{where}.files", f"kind {kind} needs exactly the keys {sorted(needed)}")
    parsed = {key: parse_raw_file(path, dataset, key, files[key], where) for key in KINDS[kind].files}
    raws = [f.raw for f in parsed.values()]
    if len(set(raws)) != len(raws):
        raise _fail(path, f"{where}.files", "two files share the same 'raw' name")
    options = spec.get("options") or {}
    if not isinstance(options, dict):
        raise _fail(path, f"{where}.options", "must be a mapping")
    return DatasetSource(dataset, kind, parsed, dict(options))


def parse_sources(document: Any, path: str) -> dict[str, DatasetSource]:
    """Validate a loaded sources document (``datasets: {<id>: <entry>}``); errors name the key."""
    if not isinstance(document, dict) or not isinstance(document.get("datasets"), dict):
        raise _fail(path, "datasets", "the file must hold a mapping 'datasets: {<id>: {...}}'")
    return {
        dataset: parse_source(path, f"datasets.{dataset}", dataset, spec)
        for dataset, spec in document["datasets"].items()
    }


def registry_sources() -> dict[str, DatasetSource]:
    """Every registered dataset's ``source:`` section, validated (a dataset without one is an error)."""
    sources = {}
    for dataset in DATASET_IDS:
        spec = dataset_section(dataset, "source")
        if spec is None:
            raise _fail(registry_path(dataset), "source", "is missing (kind, files and options of its raw files)")
        sources[dataset] = parse_source(registry_path(dataset), "source", dataset, spec)
    return sources


def load_sources(path: str | os.PathLike | None = None) -> dict[str, DatasetSource]:
    """The registry's sources, with the entries of the override file ``path`` (if any) replacing theirs.

    An override file may only name registered datasets: a dataset is described by its registry YAML.
    """
    sources = registry_sources()
    if path is None:
        return sources
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as handle:
            document = load_unique_yaml(handle.read(), path)
    except FileNotFoundError:
        raise SourceConfigError(f"sources file {path} not found (set the config key 'sources' to its path)") from None
    except UnicodeDecodeError:
        raise SourceConfigError(f"{path}: not UTF-8 text (a YAML file was expected)") from None
    except yaml.YAMLError as exc:
        raise SourceConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    except DuplicateKeyError as exc:
        raise SourceConfigError(str(exc)) from None
    overrides = parse_sources(document, path)
    for dataset in overrides:
        if dataset not in sources:
            raise _fail(
                path,
                f"datasets.{dataset}",
                f"no such dataset in the registry (known: {', '.join(sources)}); "
                f"describe it in {registry_path(dataset)} first",
            )
    return {**sources, **overrides}


# ------------------------------------------------------------------ the kinds of dataset
@dataclass(frozen=True)
class DatasetKind:
    """One preprocessing kind; ``builder(*raw file paths in `files` order, **options)`` returns
    ``(data, targets)`` or ``(data, targets, vocabulary)``."""

    name: str
    files: tuple[str, ...]  # raw file keys of a `source:` section of this kind
    outputs: tuple[str, ...]  # written under resources/data/<id>/
    options: frozenset[str]  # the `options` keys it accepts in a `source:`
    builder: str  # "<module>:<function>" in onepass.datasets
    mem_mb: int  # memory of its preprocessing job

    def build_function(self) -> Callable[..., tuple[Any, ...]]:
        module, function = self.builder.split(":")
        return getattr(importlib.import_module(f".{module}", __package__), function)


KINDS: dict[str, DatasetKind] = {
    k.name: k
    for k in [
        DatasetKind("uci", ("data", "permutation"), ("data.pt", "targets.pt"),
                    frozenset({"columns", "drop_columns", "rows"}), "uci:build_uci", 1000),
        DatasetKind("fashion_mnist", ("train_images", "train_labels", "test_images", "test_labels"),
                    ("data.pt", "targets.pt"), frozenset({"train_rows", "test_rows"}),
                    "fashion_mnist:build_fashion_mnist", 4000),
        DatasetKind("cifar10", ("archive",), ("data.pt", "targets.pt"), frozenset({"train_rows", "test_rows"}),
                    "cifar10:build_cifar10", 4000),
        DatasetKind("penn_treebank", ("archive",), ("data.pt", "targets.pt", "vocab.txt"),
                    frozenset({"tokens", "vocab_size", "members_md5"}), "penn_treebank:build_penn_treebank", 2000),
    ]
}  # fmt: skip

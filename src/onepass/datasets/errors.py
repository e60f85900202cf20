"""Exceptions raised by the dataset code.

Every error names the file (or the config key) at fault and, where there is one, the fix, because
these errors surface in Snakemake logs far from the code that raised them.
"""

from __future__ import annotations


class DatasetError(RuntimeError):
    """Base class: something about a raw source or its preprocessing is wrong."""


class RegistryError(DatasetError):
    """A dataset's registry YAML (``onepass/configs/datasets/<id>.yaml``) is missing or malformed."""


class SourceConfigError(DatasetError):
    """A dataset's ``source:`` section (or a sources override file) is malformed or lacks a key."""


class FetchError(DatasetError):
    """A raw file could not be downloaded or copied from the mirror."""


class ChecksumError(DatasetError):
    """A raw file's sha256 (or size) differs from the one recorded in the dataset's ``source:`` section."""


class ArchiveError(DatasetError):
    """An archive is truncated, corrupt, or holds a member that is unsafe to extract."""


class FormatError(DatasetError):
    """A raw file's content does not have the expected format (bad line, wrong shape, ...)."""

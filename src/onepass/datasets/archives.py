"""Safe reading and extraction of tar archives (CIFAR-10, Penn Treebank).

Archives are untrusted input. A member named ``../x`` or ``/etc/x``, or a link pointing outside
the destination, could overwrite arbitrary files on extraction ("tar slip"). Every member is
checked *before* anything is read or written, and the whole archive is refused if one member is
unsafe, so a tampered archive is noticed even if the unsafe member is not one we need.
Truncated or corrupt archives raise :class:`ArchiveError` naming the archive.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
import zlib
from collections.abc import Iterable
from pathlib import Path

from .errors import ArchiveError

_FILTER_ERROR = getattr(tarfile, "FilterError", ())
#: Exceptions that mean "the archive bytes are bad" (truncated gzip stream, bad tar header, ...).
CORRUPT = (tarfile.TarError, EOFError, zlib.error, OSError)


def normalise_member_name(name: str) -> str:
    """A member name without a leading ``./`` and redundant separators (``./a//b`` -> ``a/b``)."""
    return posixpath.normpath(name).lstrip("/") if name not in ("", ".") else "."


def _unsafe_reason(member: tarfile.TarInfo) -> str | None:
    name = member.name
    if not name:
        return "has an empty name"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    if "\\" in name:
        return "contains a backslash"
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return "contains '..'"
    if member.issym() or member.islnk():
        target = member.linkname
        if not target or target.startswith("/") or (len(target) > 1 and target[1] == ":"):
            return f"is a link to an absolute path {target!r}"
        # Symlinks resolve relative to the member's folder, hard links relative to the archive root.
        base = posixpath.dirname(name) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        if resolved == ".." or resolved.startswith("../"):
            return f"is a link pointing outside the destination ({target!r})"
    elif not (member.isfile() or member.isdir()):
        return "is a device, FIFO or other special file"
    return None


def check_members(archive: str | os.PathLike, tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """All members of ``tar``, after refusing the archive if any member is unsafe."""
    try:
        members = tar.getmembers()
    except CORRUPT as exc:
        raise ArchiveError(f"{os.fspath(archive)}: truncated or corrupt archive ({exc})") from exc
    for member in members:
        reason = _unsafe_reason(member)
        if reason:
            raise ArchiveError(
                f"{os.fspath(archive)}: refusing archive: member {member.name!r} {reason} "
                f"(it would land outside the extraction folder)"
            )
    return members


def _open(archive: str | os.PathLike) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, mode="r:*")
    except FileNotFoundError:
        raise
    except CORRUPT as exc:
        raise ArchiveError(f"{os.fspath(archive)}: not a readable tar archive ({exc})") from exc


def read_members(archive: str | os.PathLike, names: Iterable[str]) -> dict[str, bytes]:
    """The content of the regular-file members ``names`` (compared after normalisation).

    The whole archive is checked first (see :func:`check_members`). Nothing is written to disk.
    """
    wanted = {normalise_member_name(n): n for n in names}
    found: dict[str, bytes] = {}
    with _open(archive) as tar:
        members = check_members(archive, tar)
        by_name = {normalise_member_name(m.name): m for m in members}
        chosen = []
        for norm, original in wanted.items():
            member = by_name.get(norm)
            if member is None or not member.isfile():
                raise ArchiveError(f"{os.fspath(archive)}: has no file member {original!r}")
            chosen.append((member, original))
        # In archive order: a compressed stream then needs one rewind, not one per member.
        for member, original in sorted(chosen, key=lambda pair: pair[0].offset_data):
            try:
                handle = tar.extractfile(member)
                data = handle.read() if handle is not None else b""
            except CORRUPT as exc:
                raise ArchiveError(
                    f"{os.fspath(archive)}: truncated or corrupt while reading {original!r} ({exc})"
                ) from exc
            if len(data) != member.size:
                raise ArchiveError(
                    f"{os.fspath(archive)}: member {original!r} is truncated ({len(data)} of {member.size} bytes)"
                )
            found[original] = data
    return found


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> list[Path]:
    """Extract every member of ``archive`` under ``dest``; refuse the archive if one is unsafe.

    Returns the paths of the extracted regular files. Uses Python's ``data`` extraction filter
    as a second line of defence where available.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    with _open(archive) as tar:
        members = check_members(archive, tar)
        for member in members:
            target = (root / normalise_member_name(member.name)).resolve()
            if target != root and root not in target.parents:
                raise ArchiveError(f"{os.fspath(archive)}: refusing member {member.name!r}: it resolves outside {dest}")
        try:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(root, members=members, filter="data")
            else:  # pragma: no cover - Python without extraction filters
                tar.extractall(root, members=members)
        except _FILTER_ERROR as exc:
            raise ArchiveError(f"{os.fspath(archive)}: refusing archive: {exc}") from exc
        except CORRUPT as exc:
            raise ArchiveError(f"{os.fspath(archive)}: truncated or corrupt archive ({exc})") from exc
    return [root / normalise_member_name(m.name) for m in members if m.isfile()]

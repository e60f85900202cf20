"""Fetching raw files: download (with retries and progress) or copy from a local mirror, then verify.

The file is written to a temporary name beside its destination and renamed only after its sha256
(and size, when recorded) matched, so ``resources/raw`` never holds an unverified or partial file.
Checksums are checked whether the file came from the network or from a mirror: a mirror is just
another untrusted copy.
"""

from __future__ import annotations

import http.client
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from ..io_utils import atomic_path, sha256_file
from .errors import ChecksumError, FetchError
from .sources import RawFile

log = logging.getLogger(__name__)

CHUNK = 1 << 20
#: HTTP statuses worth retrying (server-side or rate limiting); others (404, 403) are permanent.
TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}


def verify_file(path: str | os.PathLike, source: RawFile, shown_as: str | os.PathLike | None = None) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the recorded size and sha256.

    ``shown_as`` is the name used in the message (the final destination when ``path`` is a
    temporary file).
    """
    expected = source.require_sha256()
    name = os.fspath(shown_as or path)
    actual_size = os.path.getsize(path)
    if source.size is not None and actual_size != source.size:
        raise ChecksumError(
            f"{name}: size {actual_size} bytes, expected {source.size} for {source.config_key} "
            f"({source.url}); the file is truncated or not the upstream file"
        )
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(
            f"{name}: sha256 mismatch for {source.config_key}: expected {expected}, actual {actual}. "
            f"The file is corrupt or not the upstream file ({source.url}); delete it and fetch again, "
            f"or fix the sha256 in {source.sources_path} if upstream really changed."
        )


def _copy_stream(src: BinaryIO, dst: BinaryIO, total: int | None, label: str, progress: bool) -> int:
    copied = 0
    with tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=label,
        disable=not progress,
        leave=False,
    ) as bar:
        for block in iter(lambda: src.read(CHUNK), b""):
            dst.write(block)
            copied += len(block)
            bar.update(len(block))
    return copied


def _download_once(url: str, tmp: Path, label: str, progress: bool, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "onepass-datasets/1"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
        length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
        total = int(length) if length and length.isdigit() else None
        copied = _copy_stream(response, out, total, label, progress)
    if total is not None and copied != total:
        raise ConnectionError(f"connection closed after {copied} of {total} bytes")


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code in TRANSIENT_HTTP
    # URLError covers DNS and refused connections; HTTPException a connection dropped mid-response.
    return isinstance(exc, (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException))


def download(
    url: str,
    tmp: Path,
    label: str,
    *,
    retries: int = 3,
    backoff: float = 2.0,
    progress: bool = True,
    timeout: float = 60.0,
) -> None:
    """Download ``url`` into ``tmp``, retrying transient failures ``retries`` times.

    Waits ``backoff * 2**attempt`` seconds between attempts. A permanent failure (HTTP 404, ...)
    is not retried.
    """
    for attempt in range(retries + 1):
        try:
            _download_once(url, tmp, label, progress, timeout)
            return
        except Exception as exc:  # noqa: BLE001 - classified below
            if not _is_transient(exc) or attempt == retries:
                raise FetchError(
                    f"could not download {url} to {label} after {attempt + 1} attempt(s): {exc}. "
                    f"Without network access, set the config key data_mirror to a local copy."
                ) from exc
            wait = backoff * 2**attempt
            log.warning("download of %s failed (%s); retry %d/%d in %.1fs", url, exc, attempt + 1, retries, wait)
            time.sleep(wait)


def local_origin(source: RawFile, mirror: str | os.PathLike | None, embedded: str | os.PathLike | None) -> Path | None:
    """Where to copy ``source`` from, or None to download it.

    A user's ``mirror`` overrides everything and must hold the file. Otherwise the copy embedded in
    the repository (``data/``, laid out like a mirror: the UCI files ship with the code) is used when
    it has the file; anything it lacks is downloaded.
    """
    if mirror is not None:
        origin = source.mirror_path(mirror)
        if not origin.is_file():
            raise FetchError(
                f"{origin}: not found in the data mirror {mirror} (needed for {source.config_key}; "
                f"mirror layout: <mirror>/{source.mirror}). Put the upstream file ({source.url}) there "
                f"or unset data_mirror to download it."
            )
        return origin
    if embedded is not None and source.mirror_path(embedded).is_file():
        return source.mirror_path(embedded)
    return None


def fetch_file(
    source: RawFile,
    dest: str | os.PathLike,
    *,
    mirror: str | os.PathLike | None = None,
    embedded: str | os.PathLike | None = None,
    retries: int = 3,
    backoff: float = 2.0,
    progress: bool = True,
) -> Path:
    """Fetch one raw file to ``dest`` (see :func:`local_origin` for where from) and verify it.

    Returns ``dest``. Nothing is left at ``dest`` unless the file verified.
    """
    dest = Path(dest)
    source.require_sha256()  # fail before any transfer if the file could not be verified anyway
    origin = local_origin(source, mirror, embedded)
    with atomic_path(dest) as tmp:
        if origin is not None:
            log.info("copying %s -> %s", origin, dest)
            with open(origin, "rb") as src, open(tmp, "wb") as out:
                _copy_stream(src, out, origin.stat().st_size, str(dest), progress)
        else:
            log.info("downloading %s -> %s", source.url, dest)
            download(source.url, tmp, str(dest), retries=retries, backoff=backoff, progress=progress)
        verify_file(tmp, source, shown_as=dest if origin is None else origin)
    log.info("verified %s (sha256 %s)", dest, source.sha256)
    return dest

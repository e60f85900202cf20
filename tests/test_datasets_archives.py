"""Archive safety: members that would land outside the extraction folder are refused."""

from __future__ import annotations

import io
import tarfile

import pytest
from fixtures_datasets import add_bytes, add_dir, write_tiny_ptb

from onepass.datasets import ArchiveError
from onepass.datasets.archives import read_members, safe_extract
from onepass.datasets.penn_treebank import build_penn_treebank


def _archive(path, *members):
    """A tar.gz with regular files, then the given ``(name, kind, linkname)`` members."""
    with tarfile.open(path, "w:gz") as tar:
        add_dir(tar, "simple-examples")
        add_bytes(tar, "simple-examples/ok.txt", b"fine\n")
        for name, kind, link in members:
            member = tarfile.TarInfo(name)
            if kind == "file":
                add_bytes(tar, name, b"evil\n")
                continue
            member.type = {"sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}[kind]
            member.linkname = link
            tar.addfile(member)
    return path


MALICIOUS = [
    (("../evil", "file", ""), "contains '..'"),
    (("simple-examples/../../evil", "file", ""), "contains '..'"),
    (("/tmp/evil", "file", ""), "absolute path"),
    (("simple-examples/link", "sym", "../../outside"), "link pointing outside"),
    (("simple-examples/abs", "sym", "/etc/passwd"), "link to an absolute path"),
    (("hard", "hard", "../outside"), "link pointing outside"),
    (("pipe", "fifo", ""), "special file"),
]


@pytest.mark.parametrize(("member", "reason"), MALICIOUS, ids=[m[0][0] for m in MALICIOUS])
def test_malicious_members_refused(tmp_path, member, reason):
    archive = _archive(tmp_path / "bad.tgz", member)
    dest = tmp_path / "sub" / "dest"
    with pytest.raises(ArchiveError, match=rf"bad\.tgz: refusing archive: member .*{reason}"):
        safe_extract(archive, dest)
    assert list(dest.iterdir()) == []  # nothing extracted, not even the harmless members
    assert not (tmp_path / "evil").exists() and not (tmp_path / "sub" / "evil").exists()
    with pytest.raises(ArchiveError, match="refusing archive"):
        read_members(archive, ["simple-examples/ok.txt"])


def test_malicious_ptb_archive_refused(tmp_path):
    path = tmp_path / "simple-examples.tgz"
    write_tiny_ptb(path)
    with tarfile.open(path, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]
    with tarfile.open(path, "w:gz") as tar:
        for member, payload in members:
            tar.addfile(member, io.BytesIO(payload) if payload is not None else None)
        add_bytes(tar, "./simple-examples/../../../home/.bashrc", b"evil\n")
    with pytest.raises(ArchiveError, match=r"simple-examples\.tgz: refusing archive"):
        build_penn_treebank(path)


def test_safe_members_and_inner_links_allowed(tmp_path):
    archive = _archive(tmp_path / "ok.tgz", ("simple-examples/alias", "sym", "ok.txt"))
    files = safe_extract(archive, tmp_path / "dest")
    assert (tmp_path / "dest" / "simple-examples" / "ok.txt").read_text() == "fine\n"
    assert [p.name for p in files] == ["ok.txt"]
    assert read_members(archive, ["./simple-examples//ok.txt"]) == {"./simple-examples//ok.txt": b"fine\n"}


def test_truncated_archive_names_file(tmp_path):
    archive = _archive(tmp_path / "cut.tgz")
    archive.write_bytes(archive.read_bytes()[:40])
    with pytest.raises(ArchiveError, match=r"cut\.tgz: .*(truncated|corrupt|not a readable)"):
        safe_extract(archive, tmp_path / "dest")
    plain = tmp_path / "cut.tar"
    with tarfile.open(plain, "w") as tar:
        add_bytes(tar, "big.txt", b"x" * 5000)
    plain.write_bytes(plain.read_bytes()[:1024])
    with pytest.raises(ArchiveError, match=r"cut\.tar: .*(truncated|corrupt)"):
        read_members(plain, ["big.txt"])

"""Fetching and verification: checksums, mirror, retries, the sources (registry and override file),
atomic outputs."""

from __future__ import annotations

import io
import urllib.error
import urllib.request

import pytest
import torch
import yaml
from fixtures_datasets import REPO, pt_files, sha256, shared_mirror

from onepass.datasets import (
    ChecksumError,
    FetchError,
    SourceConfigError,
    fetch_file,
    load_sources,
    parse_sources,
    preprocess,
)
from onepass.datasets.builder import fetch_dataset
from onepass.datasets.registry import DATASET_IDS, dataset_section
from onepass.datasets.sources import parse_raw_file, parse_source, source_document


def raw_file(tmp_path, payload: bytes = b"hello\n", **overrides):
    (tmp_path / "mirror").mkdir(exist_ok=True)
    (tmp_path / "mirror" / "f.txt").write_bytes(payload)
    entry = {
        "url": (tmp_path / "mirror" / "f.txt").as_uri(),
        "sha256": sha256(tmp_path / "mirror" / "f.txt"),
        "mirror": "f.txt",
        "raw": "f.txt",
        **overrides,
    }
    return parse_raw_file("test.yaml", "toy", "data", entry)


def test_registry_sources_are_complete():
    sources = load_sources()
    assert sorted(sources) == sorted(
        ["uci_boston", "uci_concrete", "uci_energy", "uci_kin8nm", "uci_naval", "uci_power", "uci_wine"]
        + ["uci_yacht", "fashion_mnist", "cifar10", "penn_treebank"]
    )
    mirror = shared_mirror()
    for dataset, source in sources.items():
        for raw in source.files.values():
            if dataset.startswith("uci_"):  # the real upstream files are in the shared mirror
                assert sha256(raw.mirror_path(mirror)) == raw.sha256, raw.config_key
            elif dataset != "penn_treebank":
                assert raw.sha256 is not None and raw.size, raw.config_key


def test_missing_sha256_is_an_error_naming_the_key(tmp_path):
    ptb = load_sources()["penn_treebank"].files["archive"]
    key = r"onepass/configs/datasets/penn_treebank\.yaml: no sha256 recorded for source\.files\.archive\.sha256"
    with pytest.raises(SourceConfigError, match=key):
        fetch_file(ptb, tmp_path / "simple-examples.tgz", mirror=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_mirror_copy_verified(tmp_path):
    raw = raw_file(tmp_path)
    dest = fetch_file(raw, tmp_path / "raw" / "toy" / "f.txt", mirror=tmp_path / "mirror", progress=False)
    assert dest.read_bytes() == b"hello\n"


def test_checksum_mismatch_names_file_expected_and_actual(tmp_path):
    raw = raw_file(tmp_path, sha256="a" * 64)
    actual = sha256(tmp_path / "mirror" / "f.txt")
    dest = tmp_path / "raw" / "f.txt"
    with pytest.raises(ChecksumError, match=rf"mirror/f\.txt: sha256 mismatch .*expected a{{64}}, actual {actual}"):
        fetch_file(raw, dest, mirror=tmp_path / "mirror", progress=False)
    assert list((tmp_path / "raw").iterdir()) == []  # no partial or temporary file
    with pytest.raises(ChecksumError, match=rf"raw/f\.txt: sha256 mismatch .*expected a{{64}}, actual {actual}"):
        fetch_file(raw, dest, progress=False)  # downloaded (file:// URL): named by its destination
    assert list((tmp_path / "raw").iterdir()) == []


def test_size_mismatch(tmp_path):
    raw = raw_file(tmp_path, size=3)
    with pytest.raises(ChecksumError, match=r"f\.txt: size 6 bytes, expected 3"):
        fetch_file(raw, tmp_path / "out.txt", mirror=tmp_path / "mirror", progress=False)


def test_missing_mirror_file_names_path(tmp_path):
    raw = raw_file(tmp_path, mirror="uci/nothere/data.txt")
    with pytest.raises(FetchError, match=r"uci/nothere/data\.txt: not found in the data mirror"):
        fetch_file(raw, tmp_path / "out.txt", mirror=tmp_path / "mirror", progress=False)


def test_embedded_copy_is_the_default_and_a_mirror_overrides_it(tmp_path):
    raw = raw_file(tmp_path, url="http://127.0.0.1:9/unreachable")  # a download would fail
    (tmp_path / "embedded").mkdir()
    (tmp_path / "embedded" / "f.txt").write_bytes(b"hello\n")
    dest = fetch_file(raw, tmp_path / "a" / "f.txt", embedded=tmp_path / "embedded", progress=False)
    assert dest.read_bytes() == b"hello\n"
    # a user's mirror wins even where the embedded folder has the file; a tampered embedded copy is refused
    (tmp_path / "embedded" / "f.txt").write_bytes(b"tampered\n")
    dest = fetch_file(raw, tmp_path / "b" / "f.txt", mirror=tmp_path / "mirror", embedded=tmp_path / "embedded")
    assert dest.read_bytes() == b"hello\n"
    with pytest.raises(ChecksumError, match=r"embedded/f\.txt: sha256 mismatch"):
        fetch_file(raw, tmp_path / "c" / "f.txt", embedded=tmp_path / "embedded", progress=False)
    assert not (tmp_path / "c" / "f.txt").exists()


def test_repository_embeds_every_uci_file_verified():
    sources = load_sources()
    uci = [raw for dataset, source in sources.items() if dataset.startswith("uci_") for raw in source.files.values()]
    assert len(uci) == 16
    for raw in uci:
        assert sha256(raw.mirror_path(REPO / "data")) == raw.sha256, raw.config_key


def test_download_with_progress(tmp_path, capsys):
    raw = raw_file(tmp_path, payload=b"x" * 300_000)
    dest = fetch_file(raw, tmp_path / "dl" / "f.txt", progress=True)
    assert dest.read_bytes() == b"x" * 300_000
    assert "f.txt" in capsys.readouterr().err  # tqdm progress bar on stderr


class _Response(io.BytesIO):
    def __init__(self, payload: bytes, length: int | None = None):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload) if length is None else length)}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_transient_failures_are_retried(tmp_path, monkeypatch):
    raw = raw_file(tmp_path)
    calls = []

    def flaky(request, timeout):
        calls.append(request.full_url)
        if len(calls) == 1:
            raise urllib.error.URLError("temporary failure in name resolution")
        if len(calls) == 2:
            return _Response(b"hel", length=6)  # connection dropped mid-transfer
        return _Response(b"hello\n")

    monkeypatch.setattr(urllib.request, "urlopen", flaky)
    monkeypatch.setattr("onepass.datasets.fetch.time.sleep", lambda s: None)
    dest = fetch_file(raw, tmp_path / "f.txt", progress=False)
    assert dest.read_bytes() == b"hello\n" and len(calls) == 3


def test_retries_are_bounded_and_permanent_errors_not_retried(tmp_path, monkeypatch):
    raw = raw_file(tmp_path)
    calls = []

    def down(request, timeout):
        calls.append(1)
        raise urllib.error.HTTPError(request.full_url, 503, "unavailable", {}, None)

    monkeypatch.setattr(urllib.request, "urlopen", down)
    monkeypatch.setattr("onepass.datasets.fetch.time.sleep", lambda s: None)
    with pytest.raises(FetchError, match=r"could not download .* after 4 attempt\(s\).*data_mirror"):
        fetch_file(raw, tmp_path / "f.txt", progress=False)
    assert len(calls) == 4 and not (tmp_path / "f.txt").exists()

    def missing(request, timeout):
        calls.append(1)
        raise urllib.error.HTTPError(request.full_url, 404, "not found", {}, None)

    calls.clear()
    monkeypatch.setattr(urllib.request, "urlopen", missing)
    with pytest.raises(FetchError, match=r"after 1 attempt\(s\): HTTP Error 404"):
        fetch_file(raw, tmp_path / "f.txt", progress=False)
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sha256": "xyz"}, r"datasets\.toy\.files\.data\.sha256: 'xyz' is not a 64-hex-digit sha256"),
        ({"url": None}, r"datasets\.toy\.files\.data\.url: None is not a URL"),
        ({"raw": "../x"}, r"datasets\.toy\.files\.data\.raw: '\.\./x' must be a plain file name"),
        ({"mirror": "/abs/x"}, r"datasets\.toy\.files\.data\.mirror: '/abs/x' must be a relative path"),
        ({"extra": 1}, r"datasets\.toy\.files\.data: unknown keys \['extra'\]"),
    ],
)
def test_bad_sources_entries_name_the_key(change, message):
    entry = {
        "url": "https://example.invalid/x",
        "sha256": "0" * 64,
        "mirror": "x",
        "raw": "data.txt",
        **change,
    }
    perm = {**entry, "sha256": "0" * 64, "url": "https://example.invalid/p", "raw": "p.txt", "mirror": "p"}
    document = {"datasets": {"toy": {"kind": "uci", "files": {"data": entry, "permutation": perm}}}}
    with pytest.raises(SourceConfigError, match=rf"^s\.yaml: {message}"):
        parse_sources(document, "s.yaml")


def test_bad_sources_structure():
    with pytest.raises(SourceConfigError, match=r"datasets\.toy\.kind: 'csv' is not one of"):
        parse_sources({"datasets": {"toy": {"kind": "csv", "files": {}}}}, "s.yaml")
    with pytest.raises(SourceConfigError, match=r"datasets\.toy\.files: kind cifar10 needs exactly the keys"):
        parse_sources({"datasets": {"toy": {"kind": "cifar10", "files": {}}}}, "s.yaml")
    with pytest.raises(SourceConfigError, match=r"sources file nope\.yaml not found"):
        load_sources("nope.yaml")


def _override_text(*ids: str) -> str:
    """A sources override file giving ``ids`` the registry's own entries."""
    registry = load_sources()
    return yaml.safe_dump({"datasets": {d: source_document(registry[d]) for d in ids}}, sort_keys=False)


def test_a_sources_key_written_twice_is_refused(tmp_path):
    """YAML would keep the second entry silently (e.g. another URL and sha256 for the same id)."""
    text = _override_text("uci_boston", "uci_yacht")
    twice = tmp_path / "sources.yaml"
    twice.write_text(text.replace("  uci_boston:\n", "  uci_yacht: {kind: uci}\n  uci_boston:\n", 1))
    with pytest.raises(SourceConfigError, match=r"sources\.yaml: datasets\.uci_yacht: written twice \(lines \d+ and"):
        load_sources(twice)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SourceConfigError, match=r"binary\.yaml: not UTF-8 text"):
        load_sources(binary)


def _toy_uci(tmp_path, **options):
    (tmp_path / "d.txt").write_text("1 2\n3 4\n")
    (tmp_path / "p.txt").write_text("1\n0\n")
    files = {
        key: {
            "url": "https://example.invalid/" + name,
            "sha256": sha256(tmp_path / name),
            "mirror": name,
            "raw": name,
        }
        for key, name in (("data", "d.txt"), ("permutation", "p.txt"))
    }
    document = {"datasets": {"uci_toy": {"kind": "uci", "files": files, "options": options}}}
    source = parse_sources(document, "s.yaml")["uci_toy"]
    return source, {"data": tmp_path / "d.txt", "permutation": tmp_path / "p.txt"}


def test_preprocess_reverifies_raw_files(tmp_path):
    source, inputs = _toy_uci(tmp_path)
    (tmp_path / "d.txt").write_text("1 2\n3 5\n")  # changed after it was fetched
    with pytest.raises(ChecksumError, match=r"d\.txt: sha256 mismatch for datasets\.uci_toy\.files\.data"):
        preprocess(source, inputs, tmp_path / "out")
    assert pt_files(tmp_path) == []


def test_unknown_option_names_key(tmp_path):
    source, inputs = _toy_uci(tmp_path, colums=2)
    with pytest.raises(SourceConfigError, match=r"datasets\.uci_toy\.options: unknown keys \['colums'\]"):
        preprocess(source, inputs, tmp_path / "out")


def test_no_partial_outputs_when_a_write_fails(tmp_path, monkeypatch):
    source, inputs = _toy_uci(tmp_path)
    real_save, calls = torch.save, []

    def failing_save(obj, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        real_save(obj, path)

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        preprocess(source, inputs, tmp_path / "out")
    assert pt_files(tmp_path) == [] and list((tmp_path / "out").iterdir()) == []
    monkeypatch.undo()
    written = preprocess(source, inputs, tmp_path / "out")
    assert [p.name for p in written] == ["data.pt", "targets.pt"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["data.pt", "targets.pt"]


def test_fetch_dataset_reuses_only_verified_files(tmp_path):
    mirror = shared_mirror()
    source = load_sources()["uci_yacht"]
    paths = fetch_dataset(source, raw_root=tmp_path, mirror=mirror, progress=False)
    assert paths["data"] == tmp_path / "uci_yacht" / "data.txt"
    paths["data"].write_text("tampered\n")
    with pytest.raises(ChecksumError, match=r"uci_yacht/data\.txt: size 9 bytes, expected 11487"):
        fetch_dataset(source, raw_root=tmp_path, mirror=mirror, progress=False)


def test_an_override_file_replaces_only_the_datasets_it_names(tmp_path):
    """Tests and private mirrors point one dataset elsewhere; the others keep the registry's entry."""
    registry = load_sources()
    document = yaml.safe_load(_override_text("uci_yacht"))
    document["datasets"]["uci_yacht"]["files"]["data"]["url"] = "https://example.invalid/yacht.txt"
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump(document))
    sources = load_sources(path)
    assert list(sources) == list(registry) == list(DATASET_IDS)
    assert sources["uci_yacht"].files["data"].url == "https://example.invalid/yacht.txt"
    assert sources["uci_yacht"].files["data"].config_key == "datasets.uci_yacht.files.data"
    assert sources["uci_yacht"].files["data"].sources_path == str(path)
    assert sources["uci_boston"] == registry["uci_boston"]
    assert registry["uci_boston"].files["data"].sources_path == "onepass/configs/datasets/uci_boston.yaml"


def test_an_override_file_cannot_invent_a_dataset(tmp_path):
    document = yaml.safe_load(_override_text("uci_yacht"))
    document["datasets"]["uci_toy"] = document["datasets"].pop("uci_yacht")
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(SourceConfigError, match=r"override\.yaml: datasets\.uci_toy: no such dataset in the registry"):
        load_sources(path)


def test_a_source_section_with_an_unknown_key_is_refused():
    spec = {**dataset_section("uci_yacht", "source"), "sha256": "0" * 64}  # meant for a file, not the dataset
    with pytest.raises(SourceConfigError, match=r"^x\.yaml: source: unknown keys \['sha256'\]"):
        parse_source("x.yaml", "source", "uci_yacht", spec)

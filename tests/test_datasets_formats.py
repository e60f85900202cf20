"""Fashion-MNIST, CIFAR-10 and Penn Treebank preprocessing on tiny files in the upstream formats."""

from __future__ import annotations

import gzip
import hashlib
import tarfile

import numpy as np
import pytest
import torch
from fixtures_datasets import (
    FMNIST_KEYS,
    PTB_IDS,
    PTB_TEXT,
    PTB_VOCAB,
    add_bytes,
    cifar_batch_pickle,
    idx_bytes,
    pt_files,
    py2_pickle,
    tiny_sources,
    write_tiny_cifar10,
    write_tiny_fashion_mnist,
    write_tiny_mirror,
    write_tiny_ptb,
)

from onepass.datasets import ArchiveError, ChecksumError, FormatError, parse_sources, preprocess
from onepass.datasets.cifar10 import build_cifar10
from onepass.datasets.fashion_mnist import build_fashion_mnist, read_idx_gz
from onepass.datasets.penn_treebank import build_penn_treebank


def load(path):
    return torch.load(path, weights_only=True)


@pytest.fixture
def tiny(tmp_path):
    mirror = tmp_path / "mirror"
    write_tiny_mirror(mirror)
    return mirror, parse_sources(tiny_sources(mirror), "tiny.yaml")


# ----------------------------------------------------------------------------- Fashion-MNIST
def test_fashion_mnist(tiny, tmp_path):
    mirror, sources = tiny
    inputs = {k: mirror / "fashion_mnist" / f for k, f in FMNIST_KEYS.items()}
    preprocess(sources["fashion_mnist"], inputs, tmp_path / "out")
    data, targets = load(tmp_path / "out" / "data.pt"), load(tmp_path / "out" / "targets.pt")
    arrays = write_tiny_fashion_mnist(tmp_path / "again")  # same seed: the same arrays
    assert data.dtype == torch.uint8 and tuple(data.shape) == (5, 784)
    assert targets.dtype == torch.int64 and targets.tolist() == [9, 0, 3, 1, 7]
    train, test = arrays["train-images-idx3-ubyte.gz"], arrays["t10k-images-idx3-ubyte.gz"]
    np.testing.assert_array_equal(data[0].numpy(), train[0].reshape(784))  # train rows first
    np.testing.assert_array_equal(data[-1].numpy(), test[-1].reshape(784))
    np.testing.assert_array_equal(data.numpy(), np.concatenate([train, test]).reshape(5, 784))


def test_fashion_mnist_truncated_gzip_names_file(tmp_path):
    write_tiny_fashion_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(FormatError, match=r"train-images-idx3-ubyte\.gz: truncated or corrupt gzip"):
        build_fashion_mnist(*(tmp_path / f for f in FMNIST_KEYS.values()))


def test_idx_payload_and_magic_checked(tmp_path):
    path = tmp_path / "short.gz"
    array = np.zeros((2, 28, 28), np.uint8)
    path.write_bytes(gzip.compress(idx_bytes(array)[:-5]))
    with pytest.raises(FormatError, match=r"short\.gz: 1563 data bytes, but the header \(2, 28, 28\) needs 1568"):
        read_idx_gz(path, 3)
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(30, np.uint8))))
    with pytest.raises(FormatError, match=r"short\.gz: bad idx magic 00000801"):
        read_idx_gz(path, 3)


def test_fashion_mnist_count_mismatch(tmp_path):
    write_tiny_fashion_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(2, np.uint8))))
    with pytest.raises(FormatError, match="has 3 images but .*train-labels-idx1-ubyte.gz has 2 labels"):
        build_fashion_mnist(*(tmp_path / f for f in FMNIST_KEYS.values()))


# ----------------------------------------------------------------------------- CIFAR-10
def test_cifar10(tiny, tmp_path):
    mirror, sources = tiny
    preprocess(sources["cifar10"], {"archive": mirror / "cifar10" / "cifar-10-python.tar.gz"}, tmp_path / "out")
    data, targets = load(tmp_path / "out" / "data.pt"), load(tmp_path / "out" / "targets.pt")
    batches = write_tiny_cifar10(tmp_path / "again.tar.gz")
    order = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    expected = np.concatenate([batches[b][0] for b in order]).reshape(-1, 3, 32, 32)
    assert data.dtype == torch.uint8 and tuple(data.shape) == (13, 3, 32, 32)
    assert targets.dtype == torch.int64 and targets.tolist() == sum((batches[b][1] for b in order), [])
    np.testing.assert_array_equal(data.numpy(), expected)
    first = batches["data_batch_1"][0][0]  # channel-major rows: 1024 red, 1024 green, 1024 blue
    np.testing.assert_array_equal(data[0, 1].numpy(), first[1024:2048].reshape(32, 32))
    np.testing.assert_array_equal(data[-1].numpy().reshape(3072), batches["test_batch"][0][-1])


def _cifar_with(tmp_path, name: str, payload: bytes):
    path = tmp_path / "c.tar.gz"
    batches = write_tiny_cifar10(tmp_path / "ok.tar.gz")
    with tarfile.open(path, "w:gz") as tar:
        for batch, (data, labels) in batches.items():
            body = payload if batch == name else cifar_batch_pickle(data, labels, batch.encode())
            add_bytes(tar, f"cifar-10-batches-py/{batch}", body)
    return path


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_cifar10_pickle_globals_refused(tmp_path):
    path = _cifar_with(tmp_path, "data_batch_3", py2_pickle({b"data": _Evil()}))
    with pytest.raises(FormatError, match=r"c\.tar\.gz:cifar-10-batches-py/data_batch_3: refusing to load global"):
        build_cifar10(path)


def test_cifar10_bad_batch_content(tmp_path):
    bad = cifar_batch_pickle(np.zeros((2, 100), np.uint8), [1, 2], b"x")
    with pytest.raises(FormatError, match=r"test_batch: b'data' must be a uint8 array of shape \(n, 3072\)"):
        build_cifar10(_cifar_with(tmp_path, "test_batch", bad))
    bad = cifar_batch_pickle(np.zeros((2, 3072), np.uint8), [1], b"x")
    with pytest.raises(FormatError, match=r"data_batch_1: 2 images but 1 labels"):
        build_cifar10(_cifar_with(tmp_path, "data_batch_1", bad))
    good = cifar_batch_pickle(np.zeros((2, 3072), np.uint8), [1, 2], b"x")
    with pytest.raises(FormatError, match=r"data_batch_2: not a readable CIFAR-10 batch"):
        build_cifar10(_cifar_with(tmp_path, "data_batch_2", good[: len(good) // 2]))


def test_cifar10_truncated_archive_names_file(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    write_tiny_cifar10(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ArchiveError, match=r"cifar-10-python\.tar\.gz: truncated or corrupt"):
        build_cifar10(path)


def test_cifar10_missing_member(tmp_path):
    path = tmp_path / "c.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        add_bytes(tar, "cifar-10-batches-py/data_batch_1", b"")
    with pytest.raises(ArchiveError, match=r"c\.tar\.gz: has no file member 'cifar-10-batches-py/data_batch_2'"):
        build_cifar10(path)


# ----------------------------------------------------------------------------- Penn Treebank
def test_penn_treebank(tiny, tmp_path):
    mirror, sources = tiny
    preprocess(sources["penn_treebank"], {"archive": mirror / "penn_treebank" / "simple-examples.tgz"}, tmp_path)
    data, targets = load(tmp_path / "data.pt"), load(tmp_path / "targets.pt")
    assert data.dtype == torch.int64 and targets.dtype == torch.int64
    assert data.tolist() == PTB_IDS and torch.equal(data, targets)
    assert (tmp_path / "vocab.txt").read_text().splitlines() == PTB_VOCAB
    vocab = PTB_VOCAB
    words = [vocab[i] for i in data.tolist()]
    expected = [
        w
        for split in ("train", "valid", "test")
        for line in PTB_TEXT[split].splitlines()
        for w in line.split() + ["<eos>"]
    ]
    assert words == expected


def test_penn_treebank_unknown_token_names_file_and_line(tmp_path):
    path = tmp_path / "simple-examples.tgz"
    write_tiny_ptb(path, {**PTB_TEXT, "test": " a dog sat \n the zebra \n"})
    with pytest.raises(FormatError, match=r"ptb\.test\.txt:2: token 'zebra' is not in the training vocabulary"):
        build_penn_treebank(path)


def test_penn_treebank_expected_counts(tmp_path):
    path = tmp_path / "simple-examples.tgz"
    write_tiny_ptb(path)
    with pytest.raises(FormatError, match=r"ptb\.valid\.txt: 6 tokens, expected 7"):
        build_penn_treebank(path, tokens={"train": 15, "valid": 7})
    with pytest.raises(FormatError, match="training vocabulary has 9 tokens, expected 10000"):
        build_penn_treebank(path, vocab_size=10000)


def test_penn_treebank_member_md5(tmp_path):
    path = tmp_path / "simple-examples.tgz"
    write_tiny_ptb(path)
    good = hashlib.md5(PTB_TEXT["valid"].encode()).hexdigest()
    data, _, _ = build_penn_treebank(path, members_md5={"valid": good})
    assert data.tolist() == PTB_IDS
    with pytest.raises(
        ChecksumError, match=rf"ptb\.test\.txt: md5 mismatch: expected {'0' * 32}, actual [0-9a-f]{{32}}"
    ):
        build_penn_treebank(path, members_md5={"valid": good, "test": "0" * 32})


def test_penn_treebank_truncated_archive(tmp_path):
    path = tmp_path / "simple-examples.tgz"
    write_tiny_ptb(path)
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(ArchiveError, match=r"simple-examples\.tgz: truncated or corrupt"):
        build_penn_treebank(path)
    assert pt_files(tmp_path) == []

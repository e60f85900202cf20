"""Helpers for the dataset tests: the shared raw-file mirror and tiny archives in upstream formats.

Not a conftest (that file belongs to the whole suite): test modules import these functions.
The tiny archives reproduce the exact upstream layouts (idx gzip files, the pickled CIFAR-10
batches inside ``cifar-10-batches-py/``, PTB's ``./simple-examples/data/ptb.*.txt``) so that the
real preprocessing code runs on them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# (dataset id, upstream folder, permutation Name, n_inputs, rows)
UCI = [
    ("uci_boston", "bostonHousing", "Boston", 13, 506),
    ("uci_concrete", "concrete", "Concrete", 8, 1030),
    ("uci_energy", "energy", "Energy", 8, 768),
    ("uci_kin8nm", "kin8nm", "Kin8nm", 8, 8192),
    ("uci_naval", "naval-propulsion-plant", "Naval", 16, 11934),
    ("uci_power", "power-plant", "Power", 4, 9568),
    ("uci_wine", "wine-quality-red", "Wine", 11, 1599),
    ("uci_yacht", "yacht", "Yacht", 6, 308),
]


def shared_mirror() -> Path:
    """The mirror with the real UCI files: $ONEPASS_DATA_MIRROR, else the repository's own ``data/``.

    The UCI files ship with the repository, so their absence is a broken checkout: the calling test
    fails (it is not skipped) and says which folder it looked in.
    """
    path = Path(os.environ.get("ONEPASS_DATA_MIRROR") or REPO / "data")
    if not (path / "uci").is_dir():
        pytest.fail(f"no uci/ folder in the data mirror {path} (unset ONEPASS_DATA_MIRROR to use the embedded data/)")
    return path.resolve()


def sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- Fashion-MNIST
def idx_bytes(array: np.ndarray) -> bytes:
    """The idx encoding of a uint8 array (magic 0x0000 0x08 ndim, big-endian dims, data)."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def tiny_fashion_mnist_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.array([9, 0, 3], dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, size=(2, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.array([1, 7], dtype=np.uint8),
    }


def write_tiny_fashion_mnist(folder: Path) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = tiny_fashion_mnist_arrays()
    for name, array in arrays.items():
        (folder / name).write_bytes(gzip.compress(idx_bytes(array)))
    return arrays


# ----------------------------------------------------------------------------- CIFAR-10
class Py2Pickler(pickle._Pickler):
    """Writes ``bytes`` and ``str`` the way Python 2's cPickle wrote ``str`` (the CIFAR-10 files).

    Python 3 would pickle bytes at protocol 2 through ``_codecs.encode``; the real files use
    SHORT_BINSTRING/BINSTRING opcodes, which ``encoding="bytes"`` turns back into bytes.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        raw = obj.encode("ascii") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


def py2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(obj)
    # numpy >= 2 names its private module numpy._core; the real (numpy 1.x era) files say numpy.core.
    return buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def cifar_batch_pickle(data: np.ndarray, labels: list[int], label: bytes) -> bytes:
    """A batch pickled like the real files (Python 2 cPickle, protocol 2, numpy.core globals)."""
    batch = {
        b"batch_label": label,
        b"labels": list(labels),
        b"data": data,
        b"filenames": [b"img_%d.png" % i for i in range(len(labels))],
    }
    return py2_pickle(batch)


def add_bytes(tar: tarfile.TarFile, name: str, payload: bytes, **info) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(payload)
    member.mode = 0o644
    for key, value in info.items():
        setattr(member, key, value)
    tar.addfile(member, io.BytesIO(payload))


def add_dir(tar: tarfile.TarFile, name: str) -> None:
    member = tarfile.TarInfo(name)
    member.type = tarfile.DIRTYPE
    member.mode = 0o755
    tar.addfile(member)


def tiny_cifar_batches() -> dict[str, tuple[np.ndarray, list[int]]]:
    """Five train batches of 2 images and a test batch of 3 (batch name -> (data, labels))."""
    rng = np.random.default_rng(1)
    batches = {}
    for i in range(1, 6):
        batches[f"data_batch_{i}"] = (rng.integers(0, 256, (2, 3072), dtype=np.uint8), [i % 10, (i + 3) % 10])
    batches["test_batch"] = (rng.integers(0, 256, (3, 3072), dtype=np.uint8), [0, 5, 9])
    return batches


def write_tiny_cifar10(path: Path) -> dict[str, tuple[np.ndarray, list[int]]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    batches = tiny_cifar_batches()
    with tarfile.open(path, "w:gz") as tar:
        add_dir(tar, "cifar-10-batches-py")
        for name, (data, labels) in batches.items():
            add_bytes(tar, f"cifar-10-batches-py/{name}", cifar_batch_pickle(data, labels, name.encode()))
        meta = {b"label_names": [b"airplane", b"automobile"], b"num_cases_per_batch": 2}
        add_bytes(tar, "cifar-10-batches-py/batches.meta", py2_pickle(meta))
        add_bytes(tar, "cifar-10-batches-py/readme.html", b"<html></html>")
    return batches


# ----------------------------------------------------------------------------- Penn Treebank
PTB_TEXT = {
    "train": " the cat sat \n the dog sat on the mat \n a cat <unk> \n",
    "valid": " the cat on the mat \n",
    "test": " a dog sat \n",
}
# Descending train frequency (<eos> included), ties in code-point order.
PTB_VOCAB = ["<eos>", "the", "cat", "sat", "<unk>", "a", "dog", "mat", "on"]
PTB_IDS = [1, 2, 3, 0, 1, 6, 3, 8, 1, 7, 0, 5, 2, 4, 0] + [1, 2, 8, 1, 7, 0] + [5, 6, 3, 0]


def write_tiny_ptb(path: Path, texts: dict[str, str] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    texts = texts or PTB_TEXT
    with tarfile.open(path, "w:gz") as tar:
        add_dir(tar, "./simple-examples/")
        add_dir(tar, "./simple-examples/data/")
        for split, text in texts.items():
            add_bytes(tar, f"./simple-examples/data/ptb.{split}.txt", text.encode())
        add_bytes(tar, "./simple-examples/data/ptb.char.train.txt", b"t h e _ c a t\n")
        add_bytes(tar, "./simple-examples/data/README", b"Penn Treebank (tiny test copy)\n")


# ----------------------------------------------------------------------------- sources files
FMNIST_KEYS = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def write_tiny_mirror(mirror: Path) -> None:
    """The tiny F-MNIST, CIFAR-10 and PTB files in the data_mirror layout."""
    write_tiny_fashion_mnist(mirror / "fashion_mnist")
    write_tiny_cifar10(mirror / "cifar10" / "cifar-10-python.tar.gz")
    write_tiny_ptb(mirror / "penn_treebank" / "simple-examples.tgz")


def tiny_sources(mirror: Path) -> dict:
    """A sources document for the tiny mirror, with the tiny files' sha256s."""

    def entry(rel: str, raw: str) -> dict:
        return {
            "url": f"https://example.invalid/{rel}",
            "sha256": sha256(mirror / rel),
            "mirror": rel,
            "raw": raw,
        }

    return {
        "datasets": {
            "fashion_mnist": {
                "kind": "fashion_mnist",
                "files": {k: entry(f"fashion_mnist/{f}", f) for k, f in FMNIST_KEYS.items()},
                "options": {"train_rows": 3, "test_rows": 2},
            },
            "cifar10": {
                "kind": "cifar10",
                "files": {"archive": entry("cifar10/cifar-10-python.tar.gz", "cifar-10-python.tar.gz")},
                "options": {"train_rows": 10, "test_rows": 3},
            },
            "penn_treebank": {
                "kind": "penn_treebank",
                "files": {"archive": entry("penn_treebank/simple-examples.tgz", "simple-examples.tgz")},
                "options": {"tokens": {"train": 15, "valid": 6, "test": 4}, "vocab_size": len(PTB_VOCAB)},
            },
        }
    }


def write_yaml(path: Path, document: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def pt_files(folder: Path) -> list[Path]:
    """Every .pt file (and leftover temporary file) below ``folder``."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix in (".pt", ".tmp"))

"""UCI preprocessing against an independent numpy computation on the real upstream files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures_datasets import UCI, pt_files, shared_mirror

from onepass.datasets import FormatError, build, load_sources, preprocess
from onepass.datasets.sources import parse_sources


@pytest.fixture(scope="module")
def built_uci(tmp_path_factory):
    """All eight UCI datasets built once through the library from the shared mirror."""
    mirror = shared_mirror()
    root = tmp_path_factory.mktemp("uci")
    sources = load_sources()
    for dataset, *_ in UCI:
        build(sources[dataset], raw_root=root / "raw", data_root=root / "data", mirror=mirror, progress=False)
    return mirror, root / "data"


def load(path):
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize(("dataset", "folder", "name", "n_inputs", "rows"), UCI)
def test_uci_matches_numpy(built_uci, dataset, folder, name, n_inputs, rows):
    mirror, data_root = built_uci
    raw = np.loadtxt(mirror / "uci" / folder / "data.txt", dtype=np.float64)
    perm = np.loadtxt(mirror / "uci" / f"permutation_indices_{name}.txt", dtype=np.int64)
    table = raw[perm]
    if dataset == "uci_naval":  # two target columns: drop the 18th, keep the 17th as target
        assert raw.shape[1] == 18
        table = table[:, :17]
    expected_x = table[:, :-1].astype(np.float32)
    expected_y = table[:, -1:].astype(np.float32)

    data, targets = load(data_root / dataset / "data.pt"), load(data_root / dataset / "targets.pt")
    assert data.dtype == torch.float32 and targets.dtype == torch.float32
    assert tuple(data.shape) == (rows, n_inputs) and tuple(targets.shape) == (rows, 1)
    np.testing.assert_array_equal(data.numpy(), expected_x)
    np.testing.assert_array_equal(targets.numpy(), expected_y)
    np.testing.assert_array_equal(data[0].numpy(), expected_x[0])
    np.testing.assert_array_equal(data[-1].numpy(), expected_x[-1])
    # Each file holds just its tensor, not a view of a shared matrix.
    for tensor in (data, targets):
        assert tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size()


def test_uci_literal_rows(built_uci):
    """First/last rows checked against values read off the raw files by hand."""
    _, data_root = built_uci
    energy = load(data_root / "uci_energy" / "data.pt")
    energy_y = load(data_root / "uci_energy" / "targets.pt")
    # permutation_indices_Energy.txt starts with 526 and ends with 723 (0-based raw rows)
    expected_first = [0.62, 808.50, 367.50, 220.50, 3.50, 4, 0.25, 5]
    np.testing.assert_array_equal(energy[0].numpy(), np.array(expected_first, dtype=np.float32))
    np.testing.assert_array_equal(energy[-1].numpy(), np.array([0.98, 514.5, 294, 110.25, 7, 5, 0.4, 5], np.float32))
    assert energy_y[0].item() == pytest.approx(14.16) and energy_y[-1].item() == pytest.approx(32.73)
    assert 6.0 < energy_y.min().item() and energy_y.max().item() < 43.2  # heating load, not cooling
    naval_y = load(data_root / "uci_naval" / "targets.pt")
    naval_x = load(data_root / "uci_naval" / "data.pt")
    # raw rows 11293 (first) and 4805 (last): 16th column, then 17th (kept target), 18th (dropped)
    assert naval_x[0, -1].item() == pytest.approx(1.187) and naval_y[0].item() == pytest.approx(0.998)
    assert naval_x[-1, -1].item() == pytest.approx(1.774) and naval_y[-1].item() == pytest.approx(0.97)
    assert 0.95 - 1e-6 <= naval_y.min().item() and naval_y.max().item() <= 1.0 + 1e-6


def _uci_source(tmp_path, data_text: str, perm_text: str, **options):
    (tmp_path / "data.txt").write_text(data_text)
    (tmp_path / "perm.txt").write_text(perm_text)
    entry = {"url": "https://example.invalid/x", "sha256": "0" * 64, "mirror": "x"}
    document = {
        "datasets": {
            "uci_toy": {
                "kind": "uci",
                "files": {"data": {**entry, "raw": "data.txt"}, "permutation": {**entry, "raw": "perm.txt"}},
                "options": options,
            }
        }
    }
    source = parse_sources(document, "toy.yaml")["uci_toy"]
    return source, {"data": tmp_path / "data.txt", "permutation": tmp_path / "perm.txt"}


def test_malformed_line_names_file_and_line(tmp_path):
    source, inputs = _uci_source(tmp_path, "1 2 3\n4 5 6\n7 x 9\n", "2\n0\n1\n")
    out = tmp_path / "out"
    with pytest.raises(FormatError, match=r"data\.txt:3: 'x' is not a number"):
        preprocess(source, inputs, out, verify=False)
    assert pt_files(tmp_path) == []


def test_wrong_column_count_names_line(tmp_path):
    source, inputs = _uci_source(tmp_path, "1 2 3\n\n4 5\n", "0\n1\n", columns=3)
    with pytest.raises(FormatError, match=r"data\.txt:3: expected 3 columns, found 2"):
        preprocess(source, inputs, tmp_path / "out", verify=False)
    assert pt_files(tmp_path) == []


def test_non_finite_value_refused(tmp_path):
    source, inputs = _uci_source(tmp_path, "1 2\nnan 3\n", "0\n1\n")
    with pytest.raises(FormatError, match=r"data\.txt:2: non-finite"):
        preprocess(source, inputs, tmp_path / "out", verify=False)


def test_permutation_checks(tmp_path):
    source, inputs = _uci_source(tmp_path, "1 2\n3 4\n5 6\n", "0\n1\n")
    with pytest.raises(FormatError, match=r"perm\.txt: 2 indices for a data file of 3 rows"):
        preprocess(source, inputs, tmp_path / "out", verify=False)
    source, inputs = _uci_source(tmp_path, "1 2\n3 4\n5 6\n", "0\n1\n3\n")
    with pytest.raises(FormatError, match=r"perm\.txt: row index out of range"):
        preprocess(source, inputs, tmp_path / "out", verify=False)
    # A repeated index is only acceptable when it points at a duplicated row (Concrete/Power/Wine).
    source, inputs = _uci_source(tmp_path, "1 2\n3 4\n5 6\n", "0\n0\n2\n")
    with pytest.raises(FormatError, match=r"perm\.txt: the indices do not reorder"):
        preprocess(source, inputs, tmp_path / "out", verify=False)
    source, inputs = _uci_source(tmp_path, "1 2\n1 2\n5 6\n", "2\n0\n0\n")
    preprocess(source, inputs, tmp_path / "out", verify=False)
    np.testing.assert_array_equal(load(tmp_path / "out" / "data.pt").numpy(), [[5], [1], [1]])
    source, inputs = _uci_source(tmp_path, "1 2\n3 4\n", "1\nzero\n")
    with pytest.raises(FormatError, match=r"perm\.txt:2: 'zero' is not an integer"):
        preprocess(source, inputs, tmp_path / "out2", verify=False)


def test_drop_columns_numbered_from_one(tmp_path):
    source, inputs = _uci_source(tmp_path, "1 2 3 4\n5 6 7 8\n", "1\n0\n", columns=4, drop_columns=[4], rows=2)
    preprocess(source, inputs, tmp_path / "out", verify=False)
    np.testing.assert_array_equal(load(tmp_path / "out" / "data.pt").numpy(), [[5, 6], [1, 2]])
    np.testing.assert_array_equal(load(tmp_path / "out" / "targets.pt").numpy(), [[7], [3]])

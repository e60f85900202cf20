"""An aggregated file that is not what the analysis expects is one line naming the file and the
problem (not pandas' `No columns to parse` or a bare utf-8 decode error)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from onepass.analysis.loading import read_final, read_scalars

# name: (reader, file name, content, words of the error)
BAD_FILES = {
    "empty final CSV": (read_final, "e_final.csv", b"", "e_final.csv: empty, not an aggregated _final.csv"),
    "binary final CSV": (read_final, "e_final.csv", b"\xff\xfe\x00a,b\n", "e_final.csv: not UTF-8 text"),
    "final CSV without columns": (read_final, "e_final.csv", b"a,b\n1,2\n", "missing column(s)"),
    "text as parquet": (read_scalars, "e.parquet", b"not a parquet file", "e.parquet: not an aggregated scalar table"),
    "empty parquet file": (read_scalars, "e.parquet", b"", "e.parquet: not an aggregated scalar table"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_aggregated_file_is_named(tmp_path: Path, case: str):
    reader, name, content, words = BAD_FILES[case]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError) as caught:
        reader(path)
    message = str(caught.value)
    assert "\n" not in message and words in message, message


@pytest.mark.parametrize("rows, options, words", [
    (0, {}, "no runs to tabulate (the file holds no rows)"),
    (2, {"algorithms": ["Baydin"]}, "no runs to tabulate for algorithms ['Baydin']"),
])  # fmt: skip
def test_a_table_with_nothing_to_tabulate_names_the_file(tmp_path, rows, options, words):
    """Before: a bare KeyError 'mean' from the empty statistics frame."""
    from onepass.analysis.tables import build_table

    final = tmp_path / "uci_energy_final.csv"
    header = "experiment,algorithm,seed,status,Unnormalised_Loss/Test\n"
    final.write_text(header + "".join(f"uci_energy,Random,{s},ok,{1.0 + s}\n" for s in range(rows)))
    spec = {"kind": "AverageResults", "experiments": ["uci_energy"], **options}
    with pytest.raises(ValueError, match=re.escape(f"{final}: {words}")):
        build_table("AverageResults", "T", spec, {"final": [str(final)]}, tmp_path / "t.tex", tmp_path / "t.csv")
    assert not (tmp_path / "t.csv").exists() and not (tmp_path / "t.tex").exists()


def test_a_final_file_of_another_experiment_is_refused(tmp_path):
    """Before: read as if it were this experiment's, so a figure of it came out empty with exit 0."""
    copied = tmp_path / "uci_energy_final.csv"
    copied.write_text("experiment,algorithm,seed,status,Unnormalised_Loss/Test\nuci_yacht,Random,0,ok,1.0\n")
    with pytest.raises(
        ValueError, match=re.escape(f"{copied}: holds runs of experiment(s) ['uci_yacht'], not 'uci_energy'")
    ):
        read_final(copied)

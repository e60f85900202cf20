"""An aggregated file that is not what the analysis expects is one line naming the file and the
problem (not pandas' `No columns to parse` or a bare utf-8 decode error)."""

from __future__ import annotations

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

"""Which processors made an experiment's runs: logged by aggregation, listed by the reproduction manifest."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml
from test_aggregate import chunk_files, write_chunk

from onepass.records.aggregate import AggregationError, aggregate
from onepass.records.provenance import (
    NOT_RECORDED,
    describe_processors,
    mixed_processors,
    processor_label,
    runs_per_processor,
)

REPO = Path(__file__).resolve().parents[1]
EPYC = {"torch": "2.9.0", "device": "cpu", "cpu": "AMD EPYC", "cpu_capability": "AVX2"}
XEON = {"torch": "2.9.0", "device": "cpu", "cpu": "Intel(R) Xeon(R) Platinum 8480C", "cpu_capability": "AVX512"}


def test_a_label_names_the_processor_its_kernel_level_and_any_gpu():
    assert processor_label({"environment": EPYC}) == "AMD EPYC (AVX2)"
    gpu_run = {**XEON, "device": "cuda", "gpu": "NVIDIA H100 80GB HBM3"}
    expected = "Intel(R) Xeon(R) Platinum 8480C (AVX512) + NVIDIA H100 80GB HBM3"
    assert processor_label({"environment": gpu_run}) == expected
    assert processor_label({"environment": {"cpu": "AMD EPYC"}}) == "AMD EPYC (kernel level not recorded)"
    # chunks written before onepass recorded the processor, or by hand
    assert processor_label({"environment": {"torch": "2.4.0"}}) == NOT_RECORDED
    assert processor_label({"runs": []}) == NOT_RECORDED
    assert processor_label({"environment": "AMD EPYC"}) == NOT_RECORDED


def test_runs_are_counted_per_processor_most_first():
    summaries = [{"environment": EPYC, "runs": [{}, {}]}, {"environment": XEON, "runs": [{}] * 3},
                 {"environment": EPYC, "runs": [{}, {}]}, {"runs": [{}]}]  # fmt: skip
    counts = runs_per_processor(summaries)
    assert list(counts.items()) == [("AMD EPYC (AVX2)", 4), ("Intel(R) Xeon(R) Platinum 8480C (AVX512)", 3),
                                    (NOT_RECORDED, 1)]  # fmt: skip
    described = describe_processors({"AMD EPYC (AVX2)": 4, NOT_RECORDED: 1})
    assert described == "AMD EPYC (AVX2): 4 runs; not recorded: 1 run"
    assert mixed_processors("exp", {"AMD EPYC (AVX2)": 4}) is None
    warning = mixed_processors("exp", counts)
    assert warning.startswith("experiment exp: runs were made on 3 kinds of processor (AMD EPYC (AVX2): 4 runs; ")
    assert "bit for bit only on the same kind" in warning


def _with_environment(stem: Path, environment: dict | None) -> None:
    summary = json.loads(stem.with_suffix(".json").read_text())
    if environment is not None:
        summary["environment"] = environment
    stem.with_suffix(".json").write_text(json.dumps(summary))  # the sha256 describes the parquet only


def test_aggregation_warns_when_chunks_were_made_on_different_processors(tmp_path, caplog):
    first = write_chunk(tmp_path / "runs" / "Random", "Random", [0, 1])
    second = write_chunk(tmp_path / "runs" / "Random", "Random", [2, 3])
    _with_environment(first, EPYC)
    _with_environment(second, EPYC)
    with caplog.at_level(logging.INFO, logger="onepass.records.aggregate"):
        aggregate(chunk_files(first, second), "exp", tmp_path / "a.parquet", tmp_path / "a_final.csv")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "experiment exp: runs made on AMD EPYC (AVX2): 4 runs")
    ]

    caplog.clear()
    _with_environment(second, XEON)  # a resume on another kind of machine
    with caplog.at_level(logging.INFO, logger="onepass.records.aggregate"):
        counts = aggregate(chunk_files(first, second), "exp", tmp_path / "b.parquet", tmp_path / "b_final.csv")
    assert counts["runs"] == 4  # made all the same: the numbers are valid, only not bit-comparable
    (record,) = caplog.records
    assert record.levelname == "WARNING"
    assert "2 kinds of processor (AMD EPYC (AVX2): 2 runs; Intel(R) Xeon(R) Platinum 8480C (AVX512): 2 runs)" in (
        record.getMessage()
    )


def test_the_reproduction_manifest_counts_the_runs_of_every_processor(tmp_path):
    """``run_processors`` reads the JSON of every chunk the config's plan names, and only those."""
    from onepass.pipeline.reproduction import run_processors

    config = yaml.safe_load((REPO / "config" / "reproduction_kin8nm.yaml").read_text())
    experiment = config["experiments"]["uci_kin8nm"]
    experiment.update(seeds=4, chunk_size=2, algorithms=["Random", "Ours_LR"])
    results = tmp_path / "results"
    chunks = {("Random", "seeds000-001"): EPYC, ("Random", "seeds002-003"): EPYC,
              ("Ours_LR", "seeds000-001"): XEON, ("Ours_LR", "seeds002-003"): None,
              ("Ours_LR", "seeds004-005"): XEON}  # fmt: skip  # the last: a stale chunk the plan does not name
    for (algorithm, chunk), environment in chunks.items():
        path = results / "runs" / "uci_kin8nm" / algorithm / f"{chunk}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        first = int(chunk[5:8])
        summary = {"algorithm": algorithm, "runs": [{"seed": first}, {"seed": first + 1}]}
        path.write_text(json.dumps({**summary, "environment": environment} if environment else summary))
    assert run_processors(config, results) == {
        "AMD EPYC (AVX2)": 4,
        "Intel(R) Xeon(R) Platinum 8480C (AVX512)": 2,
        NOT_RECORDED: 2,
    }
    (results / "runs" / "uci_kin8nm" / "Random" / "seeds002-003.json").unlink()  # the plan names it
    with pytest.raises(AggregationError, match=r"Random/seeds002-003\.json: cannot read chunk summary"):
        run_processors(config, results)

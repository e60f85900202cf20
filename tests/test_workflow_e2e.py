"""End-to-end: real Snakemake runs of config/test.yaml on the shared UCI mirror.

* the default target produces run chunks, aggregates, figures and tables, and a second invocation
  has nothing to do; an unrelated experiment added to the finished run plans no figure or table,
  and with every job forced the finished folder plans the same jobs as an empty one;
* killing a training job mid-way leaves no output Snakemake would take as complete, and the next
  invocation schedules the job again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import job_counts, run_snakemake
from plan_listing import plan_listing
from reference_outputs import compare as compare_with_reference

pytestmark = pytest.mark.slow


def test_test_config_end_to_end(repo_root, snakemake_cmd, tmp_path):
    config_path = repo_root / "config/test.yaml"
    config = yaml.safe_load(config_path.read_text())
    # no data_mirror: the UCI files come from the repository's embedded data/ (offline, verified)
    args = ["--cores", "2", "--configfile", str(config_path)]

    start = time.perf_counter()
    run_snakemake(snakemake_cmd, args, cwd=tmp_path, timeout=600)
    print(f"end-to-end run of config/test.yaml: {time.perf_counter() - start:.1f} s")

    # training chunks: config/test.yaml splits Random's 3 seeds into two chunks
    runs = tmp_path / "results" / "runs" / "uci_energy"
    for chunk in ("Random/seeds000-001", "Random/seeds002-002", "Random_Validation/seeds000-002",
                  "Ours_LR_Momentum/seeds000-002"):
        for suffix in (".parquet", ".json"):
            assert (runs / f"{chunk}{suffix}").is_file(), f"missing {chunk}{suffix}"
    for chunk in ("Sensitivity_T1_i1", "Sensitivity_T2_i1", "Sensitivity_T2_i2"):
        assert (tmp_path / "results" / "runs" / chunk / "DiffThroughOpt" / "seeds000-001.json").is_file()
    assert (tmp_path / "results" / "runs" / "Sensitivity_T1_i2" / "Ours_LR_Momentum").is_dir()
    assert not (tmp_path / "results" / "runs" / "Sensitivity_T1_i2" / "DiffThroughOpt").exists()  # i > T

    # aggregates: every run once, every algorithm, the overrides applied (5 windows of 10 steps)
    scalars = tmp_path / "results" / "scalars"
    final = pd.read_csv(scalars / "uci_energy_final.csv")
    assert sorted(zip(final["algorithm"], final["seed"], strict=True)) == sorted(
        (algorithm, seed) for algorithm in config["experiments"]["uci_energy"]["algorithms"] for seed in range(3)
    )
    assert list(final["algorithm"].drop_duplicates()) == ["Random", "Random_Validation", "Ours_LR_Momentum"]
    assert (final["steps_completed"] == 50).all()
    assert "best:Unnormalised_Loss/Test" in final.columns
    table = pq.read_table(scalars / "uci_energy.parquet")
    assert table.column_names == ["algorithm", "seed", "step", "tag", "value", "wall_time"]
    assert table.num_rows > 0
    sensitivity = pd.read_csv(scalars / "Sensitivity_T2_i1_final.csv")
    assert len(sensitivity) == 4 and (sensitivity["steps_completed"] == 2 * 3).all()  # 2 algorithms x 2 seeds

    # figures and tables the config asks for
    for name in config.get("figures") or {}:
        path = tmp_path / "results" / "figures" / f"{name}.pdf"
        assert path.is_file() and path.stat().st_size > 0, f"missing figure {name}"
    for name in config.get("tables") or {}:
        for ext in ("tex", "csv"):
            assert (tmp_path / "results" / "tables" / f"{name}.{ext}").is_file(), f"missing table {name}.{ext}"
    # every rule logged and benchmarked
    assert (tmp_path / "logs" / "train" / "uci_energy" / "Random" / "seeds000-001.log").is_file()
    assert (tmp_path / "results" / "benchmarks" / "aggregate" / "uci_energy.tsv").is_file()

    # the same numbers as the committed reference outputs (made by the code before its restructuring)
    assert compare_with_reference(tmp_path / "results") == []

    # a second invocation has nothing to do
    again = run_snakemake(snakemake_cmd, args, cwd=tmp_path)
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout + again.stderr

    # an unrelated experiment added to the finished run plans its own jobs and no figure or table:
    # each analysis job's params hold only the experiments it reads (Snakemake reruns on params)
    extra = tmp_path / "extra.yaml"
    extra.write_text("experiments:\n  unrelated_extra: {dataset: uci_yacht, algorithms: [Random], seeds: 1}\n")
    plan = run_snakemake(snakemake_cmd, [*args, str(extra), "-n", "--quiet", "rules"], cwd=tmp_path)
    counts = job_counts(plan.stdout + plan.stderr)
    assert counts.get("train") == 1 and "figure" not in counts and "table" not in counts, counts

    # the plan comes from the config alone: with every job forced, the finished run (plus files a
    # config does not make: a disabled experiment's aggregate, a stray figure) plans exactly the
    # jobs, inputs and outputs of an empty folder; only Snakemake's up-to-date check tells them apart
    scalars.joinpath("RayTune_final.csv").write_text("left over by hand\n")
    scalars.joinpath("RayTune.parquet").write_bytes(b"left over by hand")
    tmp_path.joinpath("results", "figures", "NotConfigured.pdf").write_bytes(b"%PDF-")
    empty = tmp_path / "empty"
    empty.mkdir()
    forced = [*args, "-n", "--forceall"]
    on_finished = plan_listing(run_snakemake(snakemake_cmd, forced, cwd=tmp_path).stdout)
    on_empty = plan_listing(run_snakemake(snakemake_cmd, forced, cwd=empty).stdout)
    assert on_finished == on_empty and len(on_empty) > 20, (sorted(set(on_finished) ^ set(on_empty)), len(on_empty))


def _training_pids(out_fragment: str, cwd: Path) -> list[int]:
    """PIDs of `onepass train` processes run in `cwd` writing to `out_fragment` (this test's only)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
            if Path(os.readlink(entry / "cwd")) != cwd:
                continue
        except OSError:
            continue
        command = [word.decode(errors="replace") for word in words]
        if "onepass" in command and "train" in command and any(out_fragment in word for word in command):
            pids.append(int(entry.name))
    return pids


def test_killed_training_job_leaves_no_complete_output(repo_root, snakemake_cmd, data_mirror, tmp_path):
    config = {
        "device": "cpu",
        "tensorboard": False,
        "experiments": {
            "killme": {
                "dataset": "uci_energy",
                "algorithms": ["Ours_LR_Momentum"],
                "seeds": 2,
                # long enough to be caught mid-way (a few minutes), killed after a few seconds
                "overrides": {"hyperparameter_steps": 100000},
            }
        },
        "figures": {},
        "tables": {},
    }
    config_file = tmp_path / "kill.yaml"
    config_file.write_text(yaml.safe_dump(config))
    args = ["--cores", "1", "--configfile", str(config_file), "--config", f"data_mirror={data_mirror}"]
    # the raw data and preprocessing first, so that the run below only trains
    run_snakemake(snakemake_cmd, [*args, "--", "resources/data/uci_energy/data.pt",
                                  "resources/data/uci_energy/targets.pt"], cwd=tmp_path)

    out_dir = tmp_path / "results" / "runs" / "killme" / "Ours_LR_Momentum"
    log = tmp_path / "logs" / "train" / "killme" / "Ours_LR_Momentum" / "seeds000-001.log"
    output_file = tmp_path / "snakemake.out"
    with output_file.open("w") as sink:
        # its own session: the clean-up below can end Snakemake and its jobs, and only them
        process = subprocess.Popen(
            [*snakemake_cmd, *args], cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 120
            pids: list[int] = []
            # wait until the job is really training: its log has output (progress) and it runs
            while time.monotonic() < deadline and process.poll() is None:
                pids = _training_pids("results/runs/killme/Ours_LR_Momentum/seeds000-001.parquet", tmp_path)
                if pids and log.is_file() and log.stat().st_size > 0:
                    break
                time.sleep(0.5)
            assert pids, f"the training job never started:\n{output_file.read_text()}"
            time.sleep(2)
            assert process.poll() is None, "snakemake finished before the job could be killed"
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            process.wait(timeout=120)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    output = output_file.read_text()
    assert process.returncode != 0, output
    assert "Error in rule train" in output, output
    # nothing that looks complete: neither output, under its final name
    for suffix in (".parquet", ".json"):
        assert not (out_dir / f"seeds000-001{suffix}").exists(), f"seeds000-001{suffix} survived the kill"
    # and Snakemake schedules the job again
    dry = run_snakemake(snakemake_cmd, ["-n", *args], cwd=tmp_path)
    assert job_counts(dry.stdout).get("train") == 1, dry.stdout

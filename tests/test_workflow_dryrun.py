"""Dry runs: the plan of every shipped config has the expected jobs, quickly, and lints clean.

The expected job counts are computed here from the YAML with a deliberately plain
re-implementation of the config semantics (grid product, `grid_where`, per-algorithm seeds and
chunk sizes, catalog defaults), so a bug in the planning (onepass.pipeline) shows up as a count mismatch.
"""

from __future__ import annotations

import itertools
import math
import resource
import time
from pathlib import Path

import pytest
import yaml
from conftest import job_counts, run_snakemake
from plan_listing import plan_listing, read_reference

from onepass.pipeline.catalog import DEFAULTS as CATALOG_DEFAULTS


def _per_algorithm(value, algorithm):
    if isinstance(value, dict):
        return value.get(algorithm, value.get("default"))
    return value


def registry_resources(repo_root: Path, dataset: str) -> dict:
    """A dataset's job resources as its registry YAML writes them, over the catalog's defaults."""
    document = yaml.safe_load((repo_root / "src/onepass/configs/datasets" / f"{dataset}.yaml").read_text())
    return {**CATALOG_DEFAULTS, **(document.get("resources") or {})}


def expected_counts(config_path: Path, repo_root: Path) -> dict[str, int]:
    """Training and aggregation jobs the config should produce, derived from the YAML alone.

    One rule aggregates every experiment whose scalars a job makes: training experiments (one per
    grid cell with jobs) and enabled BayesOpt and Ray experiments.
    """
    config = yaml.safe_load(config_path.read_text())
    train = aggregate = 0
    for experiment in config["experiments"].values():
        if not experiment.get("enabled", True):
            continue
        if experiment.get("kind", "train") in ("bayesopt", "ray"):
            aggregate += 1
        if experiment.get("kind", "train") != "train":
            continue
        dataset_entry = registry_resources(repo_root, experiment["dataset"])
        grid = experiment.get("grid") or {}
        keys = list(grid)
        for values in itertools.product(*grid.values()) if grid else [()]:
            cell = dict(zip(keys, values, strict=True))
            jobs = 0
            for algorithm in experiment["algorithms"]:
                where = (experiment.get("grid_where") or {}).get(algorithm)
                if where and not eval(where, {}, dict(cell)):
                    continue
                seeds = _per_algorithm(experiment["seeds"], algorithm)
                chunk = _per_algorithm(experiment.get("chunk_size", dataset_entry["chunk_size"]), algorithm)
                jobs += math.ceil(seeds / chunk)
            train += jobs
            aggregate += 1 if jobs else 0
    return {"train": train, "aggregate": aggregate, "figures": len(config.get("figures") or {}),
            "tables": len(config.get("tables") or {})}


@pytest.mark.parametrize(
    ("config_name", "minimum_train"),
    [("config/paper.yaml", 1000), ("config/config.yaml", 18), ("config/test.yaml", 7)],
)
def test_dry_run_job_counts(repo_root, snakemake_cmd, tmp_path, config_name, minimum_train):
    """Every planned training and aggregation job is there, once, for the default target.

    For the paper this is also the planning speed check (whole plan within 15 s). The limit is
    checked on the CPU time of the Snakemake process, which equals its wall time on an idle
    machine but, unlike wall time, does not grow when other tests or colleagues' jobs share the
    two cores.
    """
    config_path = repo_root / config_name
    expected = expected_counts(config_path, repo_root)
    assert expected["train"] >= minimum_train  # the config really is the grid we think it is
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = run_snakemake(
        snakemake_cmd, ["-n", "--quiet", "rules", "--configfile", str(config_path)], cwd=tmp_path
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"dry run of {config_name}: {wall:.1f} s wall, {cpu:.1f} s CPU")
    assert cpu < 15, f"dry run of {config_name} took {cpu:.1f} s of CPU ({wall:.1f} s wall)"
    counts = job_counts(result.stdout)
    assert counts.get("train") == expected["train"], counts
    assert counts.get("aggregate") == expected["aggregate"], counts
    assert counts.get("all") == 1
    # nothing may have run: a dry run writes no results
    assert not (tmp_path / "results").exists()


def test_paper_numbers(repo_root):
    """The paper grid's size is what config/paper.yaml describes (guards the expectation code)."""
    expected = expected_counts(repo_root / "config/paper.yaml", repo_root)
    # 8 UCI x 9 algorithms x 1 chunk + F-MNIST (and BatchNorm) 2 x 9 x 10 + PTB/CIFAR 2 x 9 x 50
    # + long horizons 3 x 4 + 4 x 6 + 10 + 36 + validation proportions 3 x 2
    # + ProofOfConcept 5 + 1 + Sensitivity 100 + 55 + 1
    assert expected["train"] == 72 + 180 + 900 + 12 + 24 + 10 + 36 + 6 + 6 + 156
    # 11 main + BatchNorm + 6 long-horizon (3 UCI, F-MNIST Standalone and Medium, UCI Full)
    # + 3 validation proportions + ProofOfConcept + 100 cells + 4 BayesOpt (the one aggregation rule;
    # the Ray experiments are disabled)
    assert expected["aggregate"] == 11 + 1 + 6 + 3 + 1 + 100 + 4


def test_grid_sub_experiments(repo_root, snakemake_cmd, tmp_path):
    """Grid cells become `<exp>_T<T>_i<i>` sub-experiments, filtered per algorithm by grid_where."""
    result = run_snakemake(
        snakemake_cmd,
        ["-n", "--configfile", str(repo_root / "config/test.yaml"), "--", "scalars"],
        cwd=tmp_path,
    )
    for cell in ("Sensitivity_T1_i1", "Sensitivity_T1_i2", "Sensitivity_T2_i1", "Sensitivity_T2_i2"):
        assert f"results/scalars/{cell}.parquet" in result.stdout
        assert f"results/runs/{cell}/Ours_LR_Momentum/seeds000-001.parquet" in result.stdout
    for cell in ("Sensitivity_T1_i1", "Sensitivity_T2_i1", "Sensitivity_T2_i2"):
        assert f"results/runs/{cell}/DiffThroughOpt/seeds000-001.parquet" in result.stdout
    assert "results/runs/Sensitivity_T1_i2/DiffThroughOpt" not in result.stdout  # needs i <= T
    # the chunking of config/test.yaml: Random in two chunks, the others in one
    assert "results/runs/uci_energy/Random/seeds002-002.parquet" in result.stdout
    assert "results/runs/uci_energy/Ours_LR_Momentum/seeds000-002.parquet" in result.stdout


def test_grid_empty_cells_derived_values_and_overrides(repo_root, snakemake_cmd, tmp_path):
    """A cell with no algorithm left is no sub-experiment; grid_derived and overrides reach the CLI."""
    config = {
        "experiments": {
            "Grid": {
                "dataset": "uci_energy",
                "algorithms": ["DiffThroughOpt", "Random"],
                "seeds": {"default": 4, "Random": 1},
                "chunk_size": 3,
                "overrides": {"log_every": 7, "init": {"momentum": 0.5}},
                "algorithm_overrides": {"Random": {"log_every": 9}},
                "grid": {"update_interval": [1, 2], "lookback": [1, 2]},
                "grid_where": {"DiffThroughOpt": "lookback <= update_interval",
                               "Random": "update_interval == 2 and lookback == 2"},
                "grid_derived": {"hyperparameter_steps": "40 // update_interval"},
            }
        },
        "figures": {},
        "tables": {},
    }
    config_file = tmp_path / "grid.yaml"
    config_file.write_text(yaml.safe_dump(config))
    result = run_snakemake(
        snakemake_cmd, ["-n", "--printshellcmds", "--configfile", str(config_file)], cwd=tmp_path
    )
    out = result.stdout
    counts = job_counts(out)
    # DiffThroughOpt in 3 cells x 2 chunks (seeds 0-2, 3-3), Random once; T1_i2 is empty
    assert counts["train"] == 7 and counts["aggregate"] == 3, counts
    assert "Grid_T1_i2" not in out
    assert "results/runs/Grid_T2_i2/Random/seeds000-000.parquet" in out
    assert "results/runs/Grid_T1_i1/DiffThroughOpt/seeds003-003.parquet" in out
    # merged overrides: experiment, then algorithm, then grid cell, then derived values
    cell = [line for line in out.splitlines()
            if "onepass train" in line and "Grid_T2_i1/DiffThroughOpt/seeds000-002" in line]
    assert cell, out
    for word in ("log_every=7", "init.momentum=0.5", "update_interval=2", "lookback=1",
                 "hyperparameter_steps=20", "--seeds 0-2"):
        assert word in cell[0], cell[0]
    random = [line for line in out.splitlines() if "onepass train" in line and "Random" in line]
    assert len(random) == 1 and "log_every=9" in random[0] and "hyperparameter_steps=20" in random[0]


def test_lint_of_pipeline_rules(repo_root, snakemake_cmd, tmp_path):
    """`snakemake --lint` finds nothing but the accepted missing conda directives (.ci/lint_workflow.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("lint_workflow", repo_root / ".ci" / "lint_workflow.py")
    lint = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lint)
    result = run_snakemake(
        snakemake_cmd, ["--lint", "--configfile", str(repo_root / "config/test.yaml")],
        cwd=tmp_path, check=False,
    )
    output = result.stdout + result.stderr
    blocks, kept = lint.unaccepted_lints(output)
    assert result.returncode == 0 or blocks, output[-3000:]  # a failure that is not a lint is a failure
    assert kept == [], "\n".join(kept)
    for part in ("Snakefile", "rules/common.smk"):  # functions and plain Python only: no lint at all
        assert not any(line.startswith("Lints for") and part in line for line in output.splitlines()), part


def test_training_resources_from_catalog(repo_root, snakemake_cmd, tmp_path):
    """gpu, threads, mem_mb and runtime of training jobs follow the registry's `resources:`; lower
    seeds go first (priority), so a run stopped part way leaves a paired prefix of seeds."""
    config = {
        "experiments": {
            "fmnist": {"dataset": "fashion_mnist", "algorithms": ["Random"], "seeds": 25},
            "uci": {"dataset": "uci_energy", "algorithms": ["Ours_HDLR_Momentum"], "seeds": 3,
                    "overrides": {"update_interval": 5}},
        },
        "figures": {},
        "tables": {},
    }
    config_file = tmp_path / "resources.yaml"
    config_file.write_text(yaml.safe_dump(config))
    result = run_snakemake(snakemake_cmd, ["-n", "--configfile", str(config_file)], cwd=tmp_path)
    jobs = {}
    output_path = None
    for line in result.stdout.splitlines():
        line = line.strip()
        if line.startswith("output: results/runs/"):
            output_path = line.split()[1].rstrip(",")
        elif line.startswith("priority:") and output_path:
            jobs.setdefault(output_path, {})["priority"] = int(line.split()[1])
        elif line.startswith("threads:") and output_path:
            jobs.setdefault(output_path, {})["threads"] = int(line.split()[1])
        elif line.startswith("resources:") and output_path:
            pairs = dict(item.split("=", 1) for item in line[len("resources:"):].replace(" ", "").split(","))
            jobs.setdefault(output_path, {}).update(pairs)
            output_path = None
    fmnist = registry_resources(repo_root, "fashion_mnist")
    # 25 seeds in chunks of 10: 10, 10, 5 seeds
    assert sorted(path for path in jobs if "fmnist" in path) == [
        f"results/runs/fmnist/Random/{chunk}.parquet" for chunk in ("seeds000-009", "seeds010-019", "seeds020-024")
    ]
    big, small = jobs["results/runs/fmnist/Random/seeds000-009.parquet"], jobs[
        "results/runs/fmnist/Random/seeds020-024.parquet"]
    assert big["gpu"] == "1" and big["mem_mb"] == str(fmnist["mem_mb"])
    priorities = [jobs[f"results/runs/fmnist/Random/{c}.parquet"].get("priority", 0)
                  for c in ("seeds000-009", "seeds010-019", "seeds020-024")]  # fmt: skip
    assert priorities == [0, -10, -20]  # Snakemake prints no priority of 0
    per_seed = fmnist["runtime_per_seed"]["default"]
    assert int(big["runtime"]) == math.ceil(fmnist["runtime_overhead"] + 10 * per_seed)
    assert int(small["runtime"]) == math.ceil(fmnist["runtime_overhead"] + 5 * per_seed)
    uci = jobs["results/runs/uci/Ours_HDLR_Momentum/seeds000-002.parquet"]
    entry = registry_resources(repo_root, "uci_energy")
    assert uci["gpu"] == "0" and uci["mem_mb"] == str(entry["mem_mb"]["Ours_HDLR_Momentum"])
    # T=5 instead of 10 halves the length, and with it the runtime
    expected = entry["runtime_overhead"] + 3 * entry["runtime_per_seed"]["Ours_HDLR_Momentum"] * 0.5
    assert int(uci["runtime"]) == math.ceil(expected)


def test_paper_plan_matches_reference(snakemake_cmd, repo_root, tmp_path):
    """The paper's dry run plans exactly the jobs (outputs and inputs) of the reference listing,
    made by the planning code before the one-source-of-truth refactor: refactors of the rules,
    the planner or the registries must not change what is computed or from what."""
    result = run_snakemake(snakemake_cmd, ["-n", "--configfile", str(repo_root / "config/paper.yaml")], cwd=tmp_path)
    planned = plan_listing(result.stdout)
    reference = read_reference()
    only_reference = sorted(set(reference) - set(planned))
    only_planned = sorted(set(planned) - set(reference))
    assert not only_reference and not only_planned, (
        f"{len(only_reference)} reference jobs not planned (first: {only_reference[:2]}), "
        f"{len(only_planned)} new jobs (first: {only_planned[:2]})"
    )
    assert len(planned) == len(reference) == 1775

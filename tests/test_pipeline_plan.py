"""The pipeline's planning (onepass.pipeline), tested directly: no Snakemake, no subprocess.

The dry-run tests (test_workflow_dryrun.py) check the resulting job counts end to end; these pin
the pieces: seed chunk names, grid cell names and order, override merging and `--set` rendering,
resources, the config checks' key paths, and the HPO plans.
"""

from __future__ import annotations

import ast
import copy
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from onepass.datasets.registry import DATASET_IDS
from onepass.patterns import alternation
from onepass.pipeline import hpo
from onepass.pipeline.catalog import load_catalog
from onepass.pipeline.checks import check_config
from onepass.pipeline.errors import ConfigError
from onepass.pipeline.jobs import (
    chunk_runtime,
    flatten_overrides,
    per_algorithm,
    seed_chunks,
    set_arguments,
)
from onepass.pipeline.plan import build_plan, chunk_outputs, expand_names_only, grid_cells, grid_expression, is_training
from onepass.training.algorithms import ALGORITHMS
from onepass.training.config import build_config, parse_assignment

REPO = Path(__file__).resolve().parents[1]
#: Every pipeline config shipped in config/.
PIPELINE_CONFIGS = sorted((REPO / "config").glob("*.yaml"))
CATALOG = load_catalog()
TEST_CONFIG = yaml.safe_load((REPO / "config" / "test.yaml").read_text())


def test_seed_chunks_names_and_ranges():
    assert seed_chunks(3, 2) == {"seeds000-001": "0-1", "seeds002-002": "2-2"}
    assert seed_chunks(5, 10) == {"seeds000-004": "0-4"}
    # four digits once the largest seed needs them, so names still sort in seed order
    chunks = seed_chunks(1001, 500)
    assert list(chunks) == ["seeds0000-0499", "seeds0500-0999", "seeds1000-1000"]
    assert sorted(chunks) == list(chunks)


def test_per_algorithm():
    assert per_algorithm(7, "Random", "x") == 7
    assert per_algorithm({"default": 3, "Random": 1}, "Random", "x") == 1
    assert per_algorithm({"default": 3, "Random": 1}, "Baydin", "x") == 3
    with pytest.raises(ConfigError, match=r"^config: experiments\.e\.seeds: no entry for 'Baydin'"):
        per_algorithm({"Random": 1}, "Baydin", "experiments.e.seeds")


def test_flatten_overrides_nested_and_dotted_agree():
    assert flatten_overrides({"init": {"momentum": 0.6}}) == flatten_overrides({"init.momentum": 0.6})
    assert flatten_overrides({"init": {}, "lookback": 2}) == {"init": {}, "lookback": 2}
    assert flatten_overrides(None) == {}


def test_set_arguments_round_trip_through_the_cli_parser():
    overrides = {"lookback": 3, "lr_clip": [-8.0, 0.0], "grad_clip_norm": None, "model.type": "mlp"}
    rendered = set_arguments(overrides)
    words = shlex.split(rendered)
    assert words[0] == "--set" and words.count("--set") == 1
    assert dict(parse_assignment(word) for word in words[1:]) == overrides
    assert set_arguments({}) == ""


def test_grid_cells_fixed_key_order_and_names():
    grid = {"lookback": [1, 2], "update_interval": [5], "model.batch_norm": [True]}
    cells = grid_cells(grid)
    assert [suffix for suffix, _ in cells] == ["_T5_i1_model-batch_normTrue", "_T5_i2_model-batch_normTrue"]
    assert cells[1][1] == {"update_interval": 5, "lookback": 2, "model.batch_norm": True}
    # the YAML's key order does not change the names
    assert grid_cells(dict(reversed(list(grid.items())))) == cells
    assert expand_names_only({"S": {"grid": {"lookback": [1, 2]}}, "P": {}}) == ["S_i1", "S_i2"]


def test_grid_expression_sees_only_the_cell():
    cell = {"update_interval": 4, "model.batch_norm": True}
    assert grid_expression("4000 // update_interval", cell, "p") == 1000
    assert grid_expression("model_batch_norm and update_interval > 2", cell, "p")
    with pytest.raises(ConfigError, match=r"^config: experiments\.S\.grid_where\.A: cannot evaluate 'lookbak"):
        grid_expression("lookbak < 2", cell, "experiments.S.grid_where.A")
    with pytest.raises(ConfigError, match="cannot evaluate"):
        grid_expression("open('x')", cell, "p")  # no builtins


def test_chunk_runtime_and_alternation():
    job = {"runtime_overhead": 5, "runtime_per_seed": 0.5}
    assert chunk_runtime(job, "0-9") == 10 and chunk_runtime(job, "3-3") == 6
    pattern = alternation(["a.b", "c"])
    assert pattern == r"a\.b|c"
    assert alternation([]) == "(?!x)x"


def test_build_plan_of_the_test_config():
    plan, names = build_plan(TEST_CONFIG, CATALOG)
    assert names["uci_energy"] == ["uci_energy"]
    assert names["Sensitivity"] == ["Sensitivity_T1_i1", "Sensitivity_T1_i2", "Sensitivity_T2_i1", "Sensitivity_T2_i2"]
    assert "BayesOpt_uci_energy" not in plan and "RayTune" not in names
    energy = plan["uci_energy"]["algorithms"]
    assert list(energy) == ["Random", "Random_Validation", "Ours_LR_Momentum"]
    assert energy["Random"]["chunks"] == {"seeds000-001": "0-1", "seeds002-002": "2-2"}
    assert energy["Random"]["sets"] == "--set hyperparameter_steps=5"
    # grid_where drops DiffThroughOpt where lookback > T
    assert list(plan["Sensitivity_T1_i2"]["algorithms"]) == ["Ours_LR_Momentum"]
    assert plan["Sensitivity_T2_i1"]["cell"] == {"update_interval": 2, "lookback": 1}
    assert plan["Sensitivity_T2_i1"]["parent"] == "Sensitivity"
    assert chunk_outputs(plan, "Sensitivity_T1_i2") == [
        "results/runs/Sensitivity_T1_i2/Ours_LR_Momentum/seeds000-001.parquet",
        "results/runs/Sensitivity_T1_i2/Ours_LR_Momentum/seeds000-001.json",
    ]


def test_build_plan_override_order_and_resources():
    config = {
        "experiments": {
            "G": {
                "dataset": "uci_energy",
                "algorithms": ["Random", "DiffThroughOpt"],
                "seeds": {"default": 4, "Random": 2},
                "chunk_size": 3,
                "overrides": {"lookback": 9, "log_every": 7},
                "algorithm_overrides": {"DiffThroughOpt": {"log_every": 8, "init": {"momentum": 0.5}}},
                "grid": {"update_interval": [20]},
                "grid_derived": {"hyperparameter_steps": "4000 // update_interval"},
            }
        }
    }
    plan, names = build_plan(config, CATALOG)
    assert names == {"G": ["G_T20"]}
    dto = plan["G_T20"]["algorithms"]["DiffThroughOpt"]
    words = dict(parse_assignment(word) for word in shlex.split(dto["sets"])[1:])
    assert words == {
        "lookback": 9, "log_every": 8, "init.momentum": 0.5, "update_interval": 20, "hyperparameter_steps": 200,
    }
    assert list(dto["chunks"]) == ["seeds000-002", "seeds003-003"]
    assert list(plan["G_T20"]["algorithms"]["Random"]["chunks"]) == ["seeds000-001"]
    entry = CATALOG["uci_energy"]
    scale = 20 * 200 / (entry["update_interval"] * entry["hyperparameter_steps"])
    per_seed = per_algorithm(entry["runtime_per_seed"], "DiffThroughOpt", "")
    assert dto["runtime_per_seed"] == pytest.approx(per_seed * scale)
    assert dto["gpu"] == (1 if entry["gpu"] else 0) and dto["threads"] == entry["threads"]


def test_disabled_and_other_kinds_are_not_planned():
    assert not is_training({"enabled": False})
    assert not is_training({"kind": "bayesopt"})
    assert is_training({"kind": "train"}) and is_training({})


def _with(edit):
    config = copy.deepcopy(TEST_CONFIG)
    edit(config)
    return config


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["experiments"]["uci_energy"]["algorithms"].append("Foo"),
         r"^config: experiments\.uci_energy\.algorithms\[3\]: unknown algorithm 'Foo'; allowed: "
         + ", ".join(ALGORITHMS) + "$"),
        (lambda c: c["experiments"]["uci_energy"].update(seeds=0),
         r"^config: experiments\.uci_energy\.seeds: must be a positive integer, got 0$"),
        (lambda c: c["experiments"]["uci_energy"].update(chunk_size={"Baydin": 2}),
         r"^config: experiments\.uci_energy\.chunk_size\.Baydin: 'Baydin' is not one of"),
        (lambda c: c["experiments"]["uci_energy"].update(dataset="nowhere"),
         r"^config: experiments\.uci_energy\.dataset: unknown dataset 'nowhere'"),
        (lambda c: c["experiments"]["Sensitivity"]["grid"].update(lookback=[]),
         r"^config: experiments\.Sensitivity\.grid\.lookback: must be a non-empty list"),
        (lambda c: c["figures"]["CDF_uci_energy"].update(experiments=["nowhere"]),
         r"^config: figures\.CDF_uci_energy\.experiments\[0\]: unknown experiment 'nowhere'"),
    ],
)
def test_check_config_names_the_key(edit, message):
    with pytest.raises(ConfigError, match=message):
        check_config(_with(edit), CATALOG)


def test_check_config_accepts_the_shipped_configs():
    for path in PIPELINE_CONFIGS:
        config = yaml.safe_load(path.read_text())
        check_config(config, CATALOG)
    # a figure may name one grid cell
    check_config(_with(lambda c: c["figures"]["CDF_uci_energy"].update(experiments=["Sensitivity_T1_i2"])), CATALOG)


def test_load_catalog(tmp_path):
    """The registry's resources, T0 and H0 derived from the training settings of the same YAML."""
    assert list(CATALOG) == list(DATASET_IDS)
    assert CATALOG["uci_energy"]["chunk_size"] == 200 and CATALOG["cifar10"]["runtime_per_seed"]["default"] == 330
    assert CATALOG["uci_energy"]["gpu"] is False and CATALOG["uci_energy"]["runtime_overhead"] == 5  # DEFAULTS
    for dataset, entry in CATALOG.items():
        training = build_config(dataset)
        assert (entry["update_interval"], entry["hyperparameter_steps"]) == (
            training["update_interval"],
            training["hyperparameter_steps"],
        )
    assert CATALOG["penn_treebank"]["hyperparameter_steps"] == 2391
    with pytest.raises(ConfigError, match=r"^config: catalog: catalog file 'nope.yaml' does not exist$"):
        load_catalog(tmp_path / "nope.yaml", "nope.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("other: {}\n")
    with pytest.raises(ConfigError, match="has neither a 'datasets' nor a 'defaults' mapping"):
        load_catalog(empty)


def test_a_catalog_override_file_is_merged_over_the_registry(tmp_path):
    """A cluster user changes resources without editing the package: defaults < dataset entries."""
    path = tmp_path / "cluster.yaml"
    path.write_text("defaults: {threads: 3}\ndatasets:\n  fashion_mnist: {gpu: false, mem_mb: {default: 9000}}\n")
    catalog = load_catalog(path, "cluster.yaml")
    assert catalog["fashion_mnist"]["gpu"] is False and catalog["fashion_mnist"]["mem_mb"] == {"default": 9000}
    assert catalog["fashion_mnist"]["chunk_size"] == CATALOG["fashion_mnist"]["chunk_size"]  # kept
    assert {entry["threads"] for entry in catalog.values()} == {3}
    assert catalog["cifar10"]["gpu"] is True
    for text, words in [
        ("datasets: {mnist: {gpu: true}}\n", "cluster.yaml: datasets.mnist: no such dataset in the registry"),
        ("datasets: {uci_energy: {hyperparameter_steps: 5}}\n", "hyperparameter_steps: unknown key (derived"),
        ("defaults: {threads: 0}\n", "cluster.yaml: defaults.threads: must be a positive integer"),
        ("datasets: {}\nchunks: 3\n", "cluster.yaml: chunks: unknown top-level key"),
    ]:
        path.write_text(text)
        with pytest.raises(ConfigError, match=re.escape(words)):
            load_catalog(path, "cluster.yaml")


def test_hpo_plans_of_the_test_config():
    bayesopt = hpo.bayesopt_plan(TEST_CONFIG, CATALOG)
    assert list(bayesopt) == ["BayesOpt_uci_energy"]
    assert bayesopt["BayesOpt_uci_energy"]["reps"] == ["rep000", "rep001"]
    assert "--set hyperparameter_steps=5" in bayesopt["BayesOpt_uci_energy"]["arguments"]
    assert hpo.ray_plan(TEST_CONFIG, CATALOG) == {}  # declared with enabled: false
    enabled = _with(lambda c: c["experiments"]["RayTune"].update(enabled=True))
    ray = hpo.ray_plan(enabled, CATALOG)
    assert list(ray["RayTune"]["searches"]) == ["ASHA_Random", "ASHA_Ours_LR_Momentum", "PBT_Random",
                                                "PBT_Ours_LR_Momentum"]
    tables, figures = hpo.ray_tables(ray), hpo.ray_figures(ray)
    assert figures == {"HPOCurves_Ray": ["RayTune"]} and tables["AverageResults_Ray"]["experiments"] == ["RayTune"]
    assert "results/figures/HPOCurves_Ray.pdf" in hpo.hpo_targets(bayesopt, ray, tables, figures)
    with pytest.raises(ConfigError, match=r"^config: experiments\.RayTune\.schedulers\[0\]: unknown scheduler"):
        hpo.ray_plan(_with(lambda c: c["experiments"]["RayTune"].update(schedulers=["Hyperband"])), CATALOG)
    with pytest.raises(ConfigError, match=r"^config: experiments\.BayesOpt_uci_energy\.repetitions: must be a"):
        hpo.bayesopt_plan(_with(lambda c: c["experiments"]["BayesOpt_uci_energy"].update(repetitions=0)), CATALOG)


def test_pipeline_imports_without_snakemake():
    code = (
        "import sys, onepass.pipeline.checks, onepass.pipeline.plan, onepass.pipeline.hpo\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('snakemake', 'torch')], 'heavy import'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_only_the_pipeline_imports_the_pipeline():
    """The library must not depend on its pipeline: no module outside onepass.pipeline imports it."""
    package = REPO / "src" / "onepass"
    offenders = []
    for path in package.rglob("*.py"):
        if (package / "pipeline") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                relative = "." * node.level + (node.module or "")
                modules = [relative] + [f"{relative}.{alias.name}" for alias in node.names]
            if any(m.startswith("onepass.pipeline") or m.lstrip(".").startswith("pipeline") for m in modules):
                offenders.append(str(path.relative_to(REPO)))
    assert not offenders


def test_comparison_resources_scale_with_the_cells_and_seeds():
    from onepass.pipeline.jobs import comparison_resources

    settings = {
        "dataset_config": "uci_energy",
        "update_interval": list(range(1, 11)),
        "lookbacks": list(range(1, 11)),
        "seeds": list(range(50)),
    }
    # DiffThroughOpt's catalog minutes (1 per 10 x 400 steps) x 50 seeds x sum over T of T * T steps
    assert comparison_resources(settings, CATALOG) == {"threads": 1, "mem_mb": 2000, "runtime": 10}
    fewer = comparison_resources({**settings, "seeds": [0]}, CATALOG)
    assert fewer["runtime"] == 6  # 5 minutes overhead + 385 / 4000 of a seed, rounded up
    assert comparison_resources({**settings, "dataset_config": "my/own.yaml"}, CATALOG)["threads"] == 1

"""A broken config stops Snakemake before any job starts, with a message naming the key.

The first cases are real (not dry) `snakemake --cores 1` runs on a copy of config/test.yaml with
one mistake; afterwards the working directory must hold no results, resources or logs. The table
further down covers the rest of the parse-time checks, mostly without starting Snakemake.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from conftest import run_snakemake

from onepass.pipeline.catalog import load_catalog
from onepass.pipeline.checks import check_config, check_config_files, load_schema
from onepass.pipeline.errors import ConfigError
from onepass.pipeline.plan import build_plan


def _broken(base: dict, edit) -> dict:
    config = copy.deepcopy(base)
    edit(config)
    return config


CASES = {
    "unknown algorithm": (
        lambda c: c["experiments"]["uci_energy"]["algorithms"].append("Foo"),
        ["experiments.uci_energy.algorithms[3]", "unknown algorithm 'Foo'", "Ours_LR_Momentum"],
    ),
    "negative seed count": (
        lambda c: c["experiments"]["uci_energy"].update(seeds=-3),
        ["experiments.uci_energy.seeds", "positive integer", "-3"],
    ),
    "zero seeds for one algorithm": (
        lambda c: c["experiments"]["uci_energy"].update(seeds={"default": 3, "Random": 0}),
        ["experiments.uci_energy.seeds.Random", "positive integer"],
    ),
    "missing dataset": (
        lambda c: c["experiments"]["uci_energy"].pop("dataset"),
        ["experiments.uci_energy.dataset", "missing"],
    ),
    "unknown dataset": (
        lambda c: c["experiments"]["uci_energy"].update(dataset="uci_atlantis"),
        ["experiments.uci_energy.dataset", "unknown dataset 'uci_atlantis'"],
    ),
    "figure of an unknown experiment": (
        lambda c: c["figures"].update(CDF_nowhere={"kind": "CDF", "experiments": ["nowhere"]}),
        ["figures.CDF_nowhere.experiments[0]", "unknown experiment 'nowhere'"],
    ),
    "misspelt experiment key (schema)": (
        lambda c: c["experiments"]["uci_energy"].update(overides={"lookback": 3}),
        ["experiments.uci_energy", "overides"],
    ),
    "bad device (schema)": (
        lambda c: c.update(device="tpu"),
        ["device", "tpu"],
    ),
    "broken grid filter": (
        lambda c: c["experiments"]["Sensitivity"]["grid_where"].update(DiffThroughOpt="lookbak <= 2"),
        ["experiments.Sensitivity.grid_where.DiffThroughOpt", "lookbak"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_broken_config_fails_before_any_job(repo_root, snakemake_cmd, tmp_path, case):
    edit, expected = CASES[case]
    base = yaml.safe_load((repo_root / "config/test.yaml").read_text())
    config_file = tmp_path / "broken.yaml"
    config_file.write_text(yaml.safe_dump(_broken(base, edit)))
    result = run_snakemake(
        snakemake_cmd,
        ["--cores", "1", "--configfile", str(config_file)],
        cwd=tmp_path, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for fragment in expected:
        assert fragment in output, f"{fragment!r} not in:\n{output[-3000:]}"
    for folder in ("results", "resources", "logs"):
        assert not (tmp_path / folder).exists(), f"{folder}/ was created: a job ran"
    assert "rule train" not in output and "Building DAG" not in output


# ---- every other config mistake: checked at parse time, one line naming the key path ----------
#
# Most rows run the parse-time checks directly (onepass.pipeline, in the Snakefile's order, minus
# Snakemake's own schema pass); the rows marked SNAKEMAKE also run the real `snakemake -n`.

REPO = Path(__file__).resolve().parents[1]
#: Every pipeline config shipped in config/.
PIPELINE_CONFIGS = sorted((REPO / "config").glob("*.yaml"))
CATALOG = load_catalog()
SCHEMA = load_schema(REPO / "workflow/schemas/config.schema.yaml")
TEST_CONFIG = yaml.safe_load((REPO / "config/test.yaml").read_text())
ALLOWED_RUN_KEYS = "allowed: batch_size, baydin_lr, divergence_threshold, fail_on_unclipped_fixed_lr"
ONE_SEED = {"dataset": "uci_energy", "algorithms": ["Random"], "seeds": 1}


def _energy(**settings):
    return lambda c: c["experiments"]["uci_energy"].update(settings)


def _sensitivity(**settings):
    return lambda c: c["experiments"]["Sensitivity"].update(settings)


def _grid(**values):
    return lambda c: c["experiments"]["Sensitivity"]["grid"].update(values)


def _add(name, experiment=ONE_SEED):
    return lambda c: c["experiments"].update({name: copy.deepcopy(experiment)})


# A YAML text edit (for mistakes a parsed config cannot hold): (old, new) replaced once.
DUPLICATE_EXPERIMENT = ("  Sensitivity:  ", "  uci_energy: {dataset: uci_energy, algorithms: [Random], seeds: 1}\n"
                                             "  Sensitivity:  ")
DUPLICATE_OVERRIDE = ("overrides: {hyperparameter_steps: 5}", "overrides: {hyperparameter_steps: 5, lookback: 2,"
                                                              " lookback: 3}")

# name: (edit of config/test.yaml, key path, message fragment, also run `snakemake -n`)
PARSE_TIME_CASES = {
    "unknown override key": (
        _energy(overrides={"hyperparamter_steps": 3}), "experiments.uci_energy.overrides.hyperparamter_steps",
        f"unknown config key 'hyperparamter_steps'; {ALLOWED_RUN_KEYS}", True,
    ),
    "bad override value": (
        _energy(overrides={"lr": -1}), "experiments.uci_energy.overrides.lr", "must be a positive number", False,
    ),
    "bad nested override value": (
        _energy(overrides={"init": {"momentum": 2}}), "experiments.uci_energy.overrides.init.momentum",
        "config key 'init.momentum'", False,
    ),
    "unknown nested override key": (
        _energy(overrides={"model": {"hiden_sizes": [5]}}), "experiments.uci_energy.overrides.model.hiden_sizes",
        "unknown config key 'model.hiden_sizes'", False,
    ),
    "override section given a number": (
        _energy(overrides={"init": 5, "lookback": 2}), "experiments.uci_energy.overrides.init",
        "'init': is a section of settings", False,
    ),
    "unknown grid key": (
        _grid(lookbak=[1, 2]), "experiments.Sensitivity.grid.lookbak", "unknown config key 'lookbak'", False,
    ),
    "bad grid values": (
        _grid(lookback=[0, -1]), "experiments.Sensitivity.grid.lookback", "must be a positive integer, got 0", False,
    ),
    "unknown algorithm override key": (
        _energy(algorithm_overrides={"Random": {"lookbak": 2}}),
        "experiments.uci_energy.algorithm_overrides.Random.lookbak", "unknown config key 'lookbak'", False,
    ),
    "bad algorithm override value": (
        _energy(algorithm_overrides={"Ours_LR_Momentum": {"hyper_lr": 0}}),
        "experiments.uci_energy.algorithm_overrides.Ours_LR_Momentum.hyper_lr",
        "must be positive", False,
    ),
    "unknown grid_derived key": (
        _sensitivity(grid_derived={"hyperparamter_steps": "4 // update_interval"}),
        "experiments.Sensitivity.grid_derived.hyperparamter_steps", "unknown config key 'hyperparamter_steps'", False,
    ),
    "bad grid_derived value": (
        _sensitivity(grid_derived={"hyperparameter_steps": "update_interval - 2"}),
        "experiments.Sensitivity.grid_derived.hyperparameter_steps", "must be a positive integer, got -1", False,
    ),
    "dataset without a package config": (
        lambda c: c["experiments"]["uci_energy"].update(dataset="my_set"), "experiments.uci_energy.dataset",
        "unknown dataset 'my_set'", False,
    ),
    "grid cell named like another experiment": (
        _add("Sensitivity_T1_i1"), "experiments.Sensitivity.grid",
        "sub-experiment 'Sensitivity_T1_i1', which is also the name of experiments.Sensitivity_T1_i1", True,
    ),
    "grid cells of two experiments collide": (
        _add("Sensitivity_T1", {**ONE_SEED, "grid": {"lookback": [1]}}), "experiments.Sensitivity_T1.grid",
        "'Sensitivity_T1_i1', which is also a cell of experiments.Sensitivity.grid", False,
    ),
    "repeated grid value": (
        _grid(lookback=[1, 1]), "experiments.Sensitivity.grid.lookback", "repeats the value 1", False,
    ),
    "grid value making an invalid name": (
        _grid(**{"model.hidden_sizes": [[50]]}), "experiments.Sensitivity.grid",
        "sub-experiment name 'Sensitivity_T1_i1_model-hidden_sizes[50]', which is not valid", False,
    ),
    "unknown top-level key": (
        lambda c: c.update(experimnts={}), "experimnts",
        "unknown top-level key; allowed: catalog, data_mirror, device, experiments, figures", True,
    ),
    "misspelt experiments section": (
        lambda c: c.update(experimnts=c.pop("experiments")), "experimnts", "unknown top-level key", False,
    ),
    "experiment name with a slash": (
        _add("a/b"), "experiments.a/b", "invalid experiment name: names match [A-Za-z0-9_.-]+", False,
    ),
    "experiment name escaping results/": (
        _add("../x"), "experiments.../x", "invalid experiment name", True,
    ),
    "hidden experiment name": (_add(".x"), "experiments..x", "do not start with '.'", False),
    "experiment named twice in the file": (
        DUPLICATE_EXPERIMENT, "experiments.uci_energy", "written twice in", True,
    ),
    "override key written twice": (
        DUPLICATE_OVERRIDE, "experiments.uci_energy.overrides.lookback", "written twice in", False,
    ),
    # issue 18: names never leave results/, the dataset config fixes what the inputs are, seeds are bounded
    "figure name escaping results/": (
        lambda c: c["figures"].update({"../../../escaped_fig": {"kind": "CDF", "experiments": ["uci_energy"]}}),
        "figures.../../../escaped_fig", "invalid figure name '../../../escaped_fig'", True,
    ),
    "table name with a slash": (
        lambda c: c["tables"].update({"a/b": {"kind": "AverageResults", "experiments": ["uci_energy"]}}),
        "tables.a/b", "invalid table name 'a/b'", False,
    ),
    "ray table name escaping results/": (
        lambda c: c["experiments"]["RayTune"].update(table="../ray_table"), "experiments.RayTune.table",
        "invalid table name '../ray_table'", False,
    ),
    "figure over a disabled ray experiment": (
        lambda c: c["figures"].update(HPOCurves_Ray={"kind": "HPOCurves", "experiments": ["RayTune"]}),
        "figures.HPOCurves_Ray.experiments[0]", "experiment 'RayTune' is disabled (enabled: false)", True,
    ),
    "figure over a disabled grid cell": (
        _sensitivity(enabled=False), "figures.Sensitivity_Ours_LR_Momentum.experiments[0]",
        "experiment 'Sensitivity' is disabled", False,
    ),
    "dataset overridden": (
        _energy(overrides={"dataset": "uci_concrete"}), "experiments.uci_energy.overrides.dataset",
        "config key 'dataset': is fixed by the dataset config", True,
    ),
    "task overridden": (
        _energy(overrides={"task": "classification"}), "experiments.uci_energy.overrides.task",
        "config key 'task': is fixed by the dataset config", False,
    ),
    "model type overridden": (
        _energy(algorithm_overrides={"Random": {"model": {"type": "resnet18"}}}),
        "experiments.uci_energy.algorithm_overrides.Random.model.type", "config key 'model.type': is fixed", False,
    ),
    "too many seeds": (
        _energy(seeds=200_001), "experiments.uci_energy.seeds", "200001 seeds is more than the 100000", True,
    ),
    "old name in overrides": (
        _energy(overrides={"network_weight_steps": 5}), "experiments.uci_energy.overrides.network_weight_steps",
        "config key 'network_weight_steps' was renamed to 'update_interval'", True,
    ),
    "old nested section in algorithm_overrides": (
        _energy(algorithm_overrides={"Ours_LR_Momentum": {"clipping": {"lr": None}}}),
        "experiments.uci_energy.algorithm_overrides.Ours_LR_Momentum.clipping.lr",
        "config key 'clipping.lr' was renamed to 'lr_clip'", False,
    ),
    "old name as a grid key": (
        _sensitivity(grid={"network_weight_steps": [1, 2], "lookback": [1]}, grid_where={}),
        "experiments.Sensitivity.grid.network_weight_steps",
        "config key 'network_weight_steps' was renamed to 'update_interval'", False,
    ),
    "lookback beyond the window of DiffThroughOpt": (
        _sensitivity(grid_where={}), "experiments.Sensitivity.grid.lookback",
        "is 2, but DiffThroughOpt can unroll at most the update_interval=1 steps", False,
    ),
}
SNAKEMAKE_CASES = [name for name, case in PARSE_TIME_CASES.items() if case[3]]


def _config_file(tmp_path: Path, edit) -> Path:
    """config/test.yaml with one mistake, written to tmp_path/broken.yaml."""
    path = tmp_path / "broken.yaml"
    if isinstance(edit, tuple):
        text = (REPO / "config/test.yaml").read_text()
        assert edit[0] in text
        path.write_text(text.replace(*edit, 1))
    else:
        path.write_text(yaml.safe_dump(_broken(TEST_CONFIG, edit), sort_keys=False))
    return path


def _parse_time_checks(config_file: Path) -> None:
    """What the Snakefile runs before planning, in its order (without Snakemake's schema pass)."""
    check_config_files([config_file])
    config = yaml.safe_load(config_file.read_text())
    catalog = {**CATALOG, "my_set": CATALOG["uci_energy"]}  # in the catalog, not in the package
    check_config(config, catalog, SCHEMA)
    build_plan(config, catalog)


@pytest.mark.parametrize("case", list(PARSE_TIME_CASES))
def test_parse_time_checks_name_the_key_path(tmp_path, case):
    edit, path, fragment, _ = PARSE_TIME_CASES[case]
    with pytest.raises(ConfigError) as caught:
        _parse_time_checks(_config_file(tmp_path, edit))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"config: {path}: "), message
    assert fragment in message, message


@pytest.mark.parametrize("case", SNAKEMAKE_CASES)
def test_dry_run_stops_with_one_line_and_plans_nothing(snakemake_cmd, tmp_path, case):
    edit, path, fragment, _ = PARSE_TIME_CASES[case]
    config_file = _config_file(tmp_path, edit)
    result = run_snakemake(snakemake_cmd, ["-n", "--configfile", str(config_file)], cwd=tmp_path, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    lines = [line for line in output.splitlines() if line.startswith(f"config: {path}: ")]
    assert lines and fragment in lines[0], output[-3000:]
    assert "Job stats" not in output and "Building DAG" not in output
    assert not (tmp_path / "results").exists()


def test_valid_configs_pass_the_parse_time_checks(tmp_path):
    """The shipped configs, `x-` anchor holders, merge keys and repeated anchors stay accepted."""
    for path in PIPELINE_CONFIGS:
        check_config_files([path])
        config = yaml.safe_load(path.read_text())
        check_config(config, CATALOG, SCHEMA)
        build_plan(config, CATALOG)
    anchors = tmp_path / "anchors.yaml"
    anchors.write_text(
        "x-base: &base {dataset: uci_energy, seeds: 1}\n"
        "experiments:\n"
        "  a: {<<: *base, algorithms: [Random]}\n"
        "  b: {<<: *base, algorithms: [Random], seeds: 2}\n"
    )
    check_config_files([anchors])
    check_config(yaml.safe_load(anchors.read_text()), CATALOG, SCHEMA)


# ---- a catalog override file (config key `catalog`): checked when it is read -------------------
#
# The registry's own `resources:` sections pass the same checks (test_pipeline_plan.test_load_catalog).
# name: ((old, new) text edit of CATALOG_TEXT, words of the one-line message, run `snakemake -n`)
CATALOG_TEXT = """\
defaults:
  runtime_overhead: 5
datasets:
  uci_boston:
    threads: 1
    chunk_size: 200
    mem_mb: {default: 2000, Ours_HDLR_Momentum: 3000}
    runtime_per_seed:
      default: 0.5
      DiffThroughOpt: 1
  uci_energy: {chunk_size: 200}
  fashion_mnist:
    gpu: true
    threads: 2
"""
CATALOG_CASES = {
    "negative chunk size": (
        ("    chunk_size: 200\n    mem_mb: {default", "    chunk_size: -5\n    mem_mb: {default"),
        "datasets.uci_boston.chunk_size: must be a positive integer, or {default: x, <Algorithm>: x}, got -5", True,
    ),
    "zero chunk size": (
        ("    chunk_size: 200\n    mem_mb: {default", "    chunk_size: 0\n    mem_mb: {default"),
        "chunk_size: must be a positive integer", False,
    ),
    "key written twice": (
        ("  uci_energy: {chunk_size: 200}\n", "  uci_energy: {chunk_size: 200}\n  uci_energy: {chunk_size: 3}\n"),
        "datasets.uci_energy: written twice (lines", True,
    ),
    "unknown key": (("    threads: 1\n    chunk_size: 200\n", "    treads: 1\n    chunk_size: 200\n"),
                    "datasets.uci_boston.treads: unknown key", False),
    "memory as text": (
        ("mem_mb: {default: 2000, Ours_HDLR_Momentum: 3000}", "mem_mb: {default: lots, Ours_HDLR_Momentum: 3000}"),
        "datasets.uci_boston.mem_mb.default: must be a positive integer (MB), got 'lots'", False,
    ),
    "per-algorithm entry of no algorithm": (
        ("      DiffThroughOpt: 1\n", "      DiffThroughOpd: 1\n"),
        "runtime_per_seed.DiffThroughOpd: not 'default' nor an algorithm name", False,
    ),
    "gpu not a switch": (("    gpu: true\n    threads: 2\n", "    gpu: yes please\n    threads: 2\n"),
                         "datasets.fashion_mnist.gpu: must be true or false", False),
    "dataset not in the registry": (("  uci_energy: {chunk_size", "  uci_enrgy: {chunk_size"),
                                    "datasets.uci_enrgy: no such dataset in the registry", True),
}


def test_the_unedited_override_file_is_valid(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG_TEXT)
    assert load_catalog(path)["fashion_mnist"]["threads"] == 2


def _catalog_file(tmp_path: Path, edit: tuple[str, str]) -> Path:
    assert edit[0] in CATALOG_TEXT
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG_TEXT.replace(*edit, 1))
    return path


@pytest.mark.parametrize("case", list(CATALOG_CASES))
def test_catalog_mistakes_are_one_line_errors(tmp_path, case):
    edit, words, _ = CATALOG_CASES[case]
    path = _catalog_file(tmp_path, edit)
    with pytest.raises(ConfigError) as caught:
        load_catalog(path, "catalog.yaml")
    message = str(caught.value)
    assert message.startswith("config: catalog: catalog.yaml") and "\n" not in message, message
    assert words in message, message


@pytest.mark.parametrize("case", [name for name, case in CATALOG_CASES.items() if case[2]])
def test_catalog_mistake_stops_the_dry_run(snakemake_cmd, tmp_path, case):
    edit, words, _ = CATALOG_CASES[case]
    catalog = _catalog_file(tmp_path, edit)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump({**TEST_CONFIG, "catalog": str(catalog)}, sort_keys=False))
    result = run_snakemake(snakemake_cmd, ["-n", "--configfile", str(config_file)], cwd=tmp_path, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    lines = [line for line in output.splitlines() if line.startswith("config: catalog: ")]
    assert len(lines) == 1 and words in lines[0], output[-3000:]
    assert "Traceback" not in output and "Building DAG" not in output
    assert not (tmp_path / "results").exists()

"""The one table of run settings (onepass.training.settings) and everything derived from it.

Each setting is defined once; these tests fail when a copy that cannot be generated (the typed
RunConfig, the workflow schema's override keys) drifts from the table, when a derived view (the
defaults, --help) loses a setting, when an old name is accepted silently, and when a job validates
its settings more than once.
"""

from __future__ import annotations

import sys
import typing
from dataclasses import MISSING, fields
from pathlib import Path

import pytest
import torch
import yaml

from onepass.cli import build_parser
from onepass.training import config as config_module
from onepass.training import run_config
from onepass.training.algorithms import ALGORITHMS, get_algorithm, resolve_config
from onepass.training.chunk import train_chunk
from onepass.training.config import DEFAULTS, ConfigError, build_config, load_dataset_config
from onepass.training.data import prepare_data
from onepass.training.run import TrainingRun
from onepass.training.run_config import InitRanges, ModelConfig, RunConfig
from onepass.training.settings import RENAMED, SECTIONS, SETTINGS, override_keys, setting

REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)


def _annotations(cls: type) -> dict[str, str]:
    """Field annotations as written (the module uses `from __future__ import annotations`)."""
    return {f.name: f.type for f in fields(cls)}


def test_run_config_fields_are_exactly_the_table():
    top = {s.name: s.type for s in SETTINGS if s.in_run and s.section is None and s.name not in SECTIONS}
    expected = {**top, "model": "ModelConfig", "init": "InitRanges"}
    assert _annotations(RunConfig) == expected
    for section, cls in (("model", ModelConfig), ("init", InitRanges)):
        assert _annotations(cls) == {s.key: s.type for s in SETTINGS if s.section == section}, section


def test_model_config_defaults_are_the_table_defaults():
    """A dataset YAML may leave the optional model keys out: the dataclass default then applies,
    and it must be the table's."""
    for field in fields(ModelConfig):
        entry = setting(f"model.{field.name}")
        if field.default is MISSING:
            assert not entry.optional, field.name
        else:
            assert entry.optional and field.default == entry.typed(entry.default), field.name


def test_defaults_document_comes_from_the_table():
    for entry in SETTINGS:
        if entry.section is None:
            assert entry.name in DEFAULTS, entry.name
        elif not entry.optional:
            assert DEFAULTS[entry.section][entry.key] == entry.default, entry.name
    assert set(DEFAULTS) == {s.name for s in SETTINGS if s.section is None}
    assert DEFAULTS["update_interval"] == 10 and DEFAULTS["hyper_lr"] == 0.05 and DEFAULTS["lr_clip"] == [-10.0, 0.0]


@pytest.mark.parametrize("name", ["uci_energy", "fashion_mnist", "cifar10", "penn_treebank"])
def test_every_field_is_typed_from_a_packaged_dataset(name):
    typed = RunConfig.from_mapping(build_config(name))
    hints = typing.get_type_hints(RunConfig)
    assert set(hints) == {f.name for f in fields(RunConfig)}
    assert typed.lr_clip == (-10.0, 0.0) and typed.update_interval == 10 and typed.hyper_lr == 0.05
    assert isinstance(typed.model.hidden_sizes, tuple) and isinstance(typed.init.lr_log10, tuple)


def test_pinned_settings_of_every_algorithm_pass_the_table_checks():
    """resolve_config does not validate again; the values it applies must be valid by the table."""
    for algorithm in ALGORITHMS.values():
        for key, value in algorithm.pinned.items():
            entry = setting(key)
            assert not entry.fixed and entry.check(value), (algorithm.name, key, value)


def test_help_lists_every_setting_with_default_and_doc():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    text = train.format_help()
    for entry in SETTINGS:
        if entry.fixed or not entry.in_run or entry.name in SECTIONS:
            continue
        assert f"{entry.name}=" in text and entry.doc in text, entry.name
    assert "update_interval=10" in text and "hyper_lr=0.05" in text and "lr_clip=[-10.0,0.0]" in text
    for old in RENAMED:
        assert f"  {old}=" not in text


def test_workflow_schema_override_keys_are_the_table():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    training_experiment = schema["$defs"]["experiment"]["then"]
    properties = training_experiment["properties"]["overrides"]["properties"]
    assert list(properties) == override_keys()
    for name, entry in properties.items():
        table = setting(name)
        symbol = f" ({table.symbol})" if table.symbol else ""
        assert entry["description"] == table.doc + symbol, name


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["network_weight_steps=3"], "config key 'network_weight_steps' was renamed to 'update_interval'"),
        ({"hyperparameter_optimiser": {"lr": 0.1}}, "config key 'hyperparameter_optimiser' was renamed to 'hyper_lr'"),
        (["hyperparameter_optimiser.lr=0.1"], "config key 'hyperparameter_optimiser.lr' was renamed to 'hyper_lr'"),
        ({"clipping": {"lr": None}}, "config key 'clipping' was renamed to 'lr_clip'"),
        (["clipping.lr=null"], "config key 'clipping.lr' was renamed to 'lr_clip'"),
    ],
)
def test_old_names_are_refused_naming_the_new_one(overrides, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        build_config("uci_energy", overrides)


def test_old_name_in_a_dataset_yaml_is_refused(tmp_path):
    document = {**load_dataset_config("uci_energy")}
    document["network_weight_steps"] = document.pop("update_interval")
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match="^config key 'network_weight_steps' was renamed to 'update_interval'"):
        build_config(path)


def test_unknown_section_key_in_a_dataset_yaml_is_named():
    document = {**load_dataset_config("uci_energy")}
    document["model"] = {**document["model"], "hiden_sizes": [5]}
    with pytest.raises(ConfigError, match="^unknown config key 'model.hiden_sizes'; allowed model keys: batch_norm"):
        build_config(document)


@pytest.fixture
def validations(monkeypatch):
    """Count calls of the real `validate`, wherever a module of the package imported it."""
    original = run_config.validate
    calls = []

    def counting(config):
        calls.append(1)
        return original(config)

    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("onepass") and getattr(module, "validate", None) is original:
            monkeypatch.setattr(module, "validate", counting)
    assert config_module.validate is counting
    return calls


def test_a_chunk_validates_its_settings_once(energy_data_dir, tmp_path, validations):
    """It used to be 3 + 2 x seeds times (build, resolve, type; then resolve and type per seed)."""
    seeds = [0, 1, 2]
    results = train_chunk(
        "uci_energy", "Ours_LR", seeds, tmp_path / "c.parquet", data_dir=energy_data_dir,
        overrides=["hyperparameter_steps=1", "update_interval=2"], progress=False,
    )  # fmt: skip
    assert [r.status for r in results] == ["ok"] * 3
    assert len(validations) == 1


def test_a_run_refuses_a_typed_config_not_resolved_for_its_algorithm(energy_data_dir):
    config = build_config("uci_energy", {"hyperparameter_steps": 2})
    baydin = get_algorithm("Baydin")
    data = prepare_data(config, energy_data_dir, baydin.keep_validation, torch.device("cpu"))
    unresolved = RunConfig.from_mapping(config)
    with pytest.raises(ValueError, match="not resolved for Baydin"):
        TrainingRun(unresolved, baydin, 0, data, torch.device("cpu"))
    resolved = RunConfig.from_valid(resolve_config(config, baydin))
    run = TrainingRun(resolved, baydin, 0, data, torch.device("cpu"))
    assert (run.T, run.H) == (1, 20)


def test_a_bayesopt_trial_validates_its_settings_once(energy_data_dir, validations):
    """It used to be twice per trial (build, then the run's own check) and twice per repetition."""
    from onepass.baselines.bayesopt.trial import prepare, train_trial

    setup = prepare("uci_energy", 0, {"hyperparameter_steps": 2}, None, energy_data_dir, "cpu", None)
    assert len(validations) == 1
    params = {"lr_log10": -2.0, "weight_decay_log10": -4.0, "momentum": 0.5}
    for trial in (0, 1):
        result, _, _ = train_trial(setup, trial, params)
        assert result.status == "ok"
    assert len(validations) == 3


def test_a_ray_trial_validates_its_settings_once(energy_data_dir, validations):
    from onepass.baselines.raytune.trainable import build_run

    settings = {"algorithm": "Ours_LR_Momentum", "overrides": {"lr_clip": None}, "dataset_config": "uci_energy",
                "max_steps": 20, "data_dir": str(energy_data_dir)}  # fmt: skip
    natural = {"lr": 0.01, "weight_decay": 1e-4, "momentum": 0.5}
    run, T = build_run({"seed": 0}, settings, natural)
    assert (T, run.H) == (10, 2)
    assert len(validations) == 1


def test_the_hypergradient_study_validates_once_per_cell(energy_data_dir, validations):
    """It used to be 2 + (1 + 2 x seeds) per cell: every run of every seed checked the cell's settings."""
    from onepass.studies.hypergradient_comparison import comparison_table

    table = comparison_table("uci_energy", [2], [1, 2], [0, 1], data_dir=energy_data_dir)
    assert len(table) == 2 * 2 * 3  # cells x seeds x hyperparameters
    assert len(validations) == 1 + 2

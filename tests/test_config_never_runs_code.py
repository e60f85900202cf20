"""Loading a config never executes anything: `grid_where`/`grid_derived` are parsed, not `eval`ed.

The attack is the real one: an expression walking `object.__subclasses__()` to `os.system`, which
the old `eval(..., {"__builtins__": {}})` ran during a plain `snakemake -n`. The table checks that
every construct outside the small grammar is a one-line config error naming the key, and that the
grammar the shipped configs use keeps working.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from conftest import run_snakemake

from onepass.pipeline.catalog import load_catalog
from onepass.pipeline.checks import check_config, load_schema
from onepass.pipeline.errors import ConfigError
from onepass.pipeline.plan import grid_expression

REPO = Path(__file__).resolve().parents[1]
CATALOG = load_catalog()
SCHEMA = load_schema(REPO / "workflow/schemas/config.schema.yaml")
TEST_CONFIG = yaml.safe_load((REPO / "config/test.yaml").read_text())


def _shell_expression(marker: Path) -> str:
    """An expression that, evaluated by `eval` even without builtins, runs `touch <marker>`."""
    return (
        "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]"
        f".__init__.__globals__['system']('touch {marker}') == 0 or lookback <= update_interval"
    )


def _config_with(tmp_path: Path, key: str, expression: str, enabled: bool = True) -> Path:
    config = copy.deepcopy(TEST_CONFIG)
    sensitivity = config["experiments"]["Sensitivity"]
    sensitivity["enabled"] = enabled
    if key == "grid_where":
        sensitivity["grid_where"] = {"DiffThroughOpt": expression}
    else:
        sensitivity["grid_derived"] = {"hyperparameter_steps": expression}
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.mark.parametrize("key", ["grid_where", "grid_derived"])
def test_dry_run_of_a_hostile_config_runs_nothing(snakemake_cmd, tmp_path, key):
    marker = tmp_path / "pwned"
    config_file = _config_with(tmp_path, key, _shell_expression(marker))
    result = run_snakemake(snakemake_cmd, ["-n", "--configfile", str(config_file)], cwd=tmp_path, check=False)
    output = result.stdout + result.stderr
    assert not marker.exists(), "the config ran a shell command"
    assert result.returncode != 0, output
    entry = "DiffThroughOpt" if key == "grid_where" else "hyperparameter_steps"
    prefix = f"config: experiments.Sensitivity.{key}.{entry}: "
    lines = [line for line in output.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1 and "is not allowed" in lines[0], output[-3000:]
    assert "Traceback" not in output and "Building DAG" not in output
    assert not (tmp_path / "results").exists()


def test_a_disabled_experiment_is_checked_too(tmp_path):
    """`enabled: false` skips planning, not the check: the expression is still refused."""
    marker = tmp_path / "pwned"
    config = yaml.safe_load(_config_with(tmp_path, "grid_where", _shell_expression(marker), enabled=False).read_text())
    with pytest.raises(ConfigError, match=r"^config: experiments\.Sensitivity\.grid_where\.DiffThroughOpt: "):
        check_config(config, CATALOG, SCHEMA)
    assert not marker.exists()


CELL = {"update_interval": 4, "lookback": 2, "model.batch_norm": True, "validation_proportion": 0.25}

# expression: value on CELL (the grammar the configs need, with Python's meaning)
ALLOWED = {
    "4000 // update_interval": 1000,
    "lookback <= update_interval": True,
    "(lookback + 1) * 2 - 1": 5,
    "update_interval / 8": 0.5,
    "update_interval % 3": 1,
    "-lookback": -2,
    "1 < lookback < update_interval": True,
    "lookback == 2 and not model_batch_norm": False,
    "lookback > 5 or update_interval": 4,
    "validation_proportion != 0.2": True,
    "model_batch_norm == True": True,
}

# expression: fragment of the one-line error
REFUSED = {
    "().__class__.__base__.__subclasses__()": "is not allowed",
    "lookback.__class__": "Attribute is not allowed",
    "open('x')": "is not allowed",
    "__import__('os').system('true')": "is not allowed",
    "[1, 2][0]": "is not allowed",
    "'text'": "is not a number",
    "9 ** 9 ** 9": "'**' is not allowed",
    "lookback << 40": "'<<' is not allowed",
    "lambda: 1": "Lambda is not allowed",
    "[x for x in (1, 2)]": "is not allowed",
    "lookback if True else 2": "IfExp is not allowed",
    "(x := 3)": "NamedExpr is not allowed",
    "lookback in (1, 2)": "'in' is not allowed",
    "None": "is not a number",
    "lookbak < 2": "name 'lookbak' is not a key of this grid",
    "lookback // 0": "by zero",
    "lookback <": "cannot parse",
    "": "must be an expression written as text",
    "x" * 600: "longer than 500 characters",
}


@pytest.mark.parametrize("expression", list(ALLOWED))
def test_the_grammar_the_configs_need_works(expression):
    assert grid_expression(expression, CELL, "p") == ALLOWED[expression]


@pytest.mark.parametrize("expression", list(REFUSED))
def test_anything_else_is_a_one_line_error_naming_the_key(expression):
    with pytest.raises(ConfigError) as caught:
        grid_expression(expression, CELL, "experiments.S.grid_where.A")
    message = str(caught.value)
    assert message.startswith("config: experiments.S.grid_where.A: "), message
    assert "\n" not in message
    assert REFUSED[expression] in message, message


def test_a_non_text_expression_is_refused():
    with pytest.raises(ConfigError, match="must be an expression written as text, got 5"):
        grid_expression(5, CELL, "p")

"""The README's library example runs as printed and does what its comment says."""

from __future__ import annotations

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    match = re.search(r"<!-- readme-example -->\s*```python\n(.*?)```\s*<!-- end readme-example -->", text, re.S)
    assert match, "README.md lost its <!-- readme-example --> block"
    return match.group(1)


def test_readme_example_is_short_and_tunes_the_learning_rate(capsys):
    code = readme_example()
    assert len([line for line in code.splitlines() if line.strip()]) <= 15
    torch.set_num_threads(1)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    opt = namespace["opt"]
    assert opt.hyperparameters["lr"] > 100 * 1e-4
    assert "lr" in capsys.readouterr().out

"""`make lint`'s Snakemake step (.ci/lint_workflow.py): only the conda/container lint is accepted."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _lint_module():
    spec = importlib.util.spec_from_file_location("lint_workflow", REPO / ".ci" / "lint_workflow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CONDA = """Lints for rule train (line 9, rules/train.smk):
    * Specify a conda environment or container for each rule.:
      This way, the used software for each specific step is documented, and the
      workflow can be executed on any machine without prerequisites.
"""
NO_LOG = """Lints for rule ray_figure (line 121, rules/hpo.smk):
    * No log directive defined:
      Without a log directive, all output will be printed to the terminal.
"""


def test_only_the_conda_recommendation_is_accepted():
    lint = _lint_module()
    assert lint.unaccepted_lints(CONDA) == (1, [])
    blocks, kept = lint.unaccepted_lints(CONDA + "\n" + NO_LOG)
    assert blocks == 2
    assert kept[0].startswith("Lints for rule ray_figure") and "No log directive defined" in kept[1]
    assert not any("conda" in line for line in kept)

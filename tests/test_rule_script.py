"""The shared preamble of the rule scripts: the log gets the traceback, stderr one line, exit 1."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from onepass.pipeline.rule_script import run_rule


def job(tmp_path):
    return SimpleNamespace(rule="aggregate", wildcards={"experiment": "uci_energy"}, log=[str(tmp_path / "job.log")])


def test_failure_is_one_line_on_stderr_and_a_traceback_in_the_log(tmp_path, capsys):
    def work(smk):
        raise ValueError("results/runs/x.json: describes another table\nsecond line")

    with pytest.raises(SystemExit) as stop:
        run_rule(job(tmp_path), work)
    assert stop.value.code == "error: aggregate uci_energy: results/runs/x.json: describes another table"
    log = (tmp_path / "job.log").read_text()
    assert "Traceback" in log and "second line" in log
    assert "Traceback" not in capsys.readouterr().err


def test_success_logs_what_the_work_returns(tmp_path):
    run_rule(job(tmp_path), lambda smk: "3 chunks, 9 runs")
    assert "aggregate uci_energy: 3 chunks, 9 runs" in (tmp_path / "job.log").read_text()

"""``--threads``: one thread unless told otherwise, because several small runs side by side on all
cores each are several times slower than on one (measured for the UCI models)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from onepass.training.chunk import set_threads


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_default_is_one_thread_without_omp_num_threads(monkeypatch, restore_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(2)
    assert set_threads(None) == 1
    assert torch.get_num_threads() == 1


def test_default_follows_omp_num_threads_set_by_the_rule_or_scheduler(monkeypatch, restore_threads):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    torch.set_num_threads(1)
    assert set_threads(None) == 2


def test_explicit_count_wins_and_zero_keeps_torch_default(monkeypatch, restore_threads):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert set_threads(1) == 1
    torch.set_num_threads(2)
    assert set_threads(0) == 2


@pytest.mark.parametrize("value, words", [("-1", "--threads must be >= 0"), ("many", "OMP_NUM_THREADS='many'")])
def test_bad_thread_counts_are_named(monkeypatch, restore_threads, value, words):
    monkeypatch.setenv("OMP_NUM_THREADS", value if not value.startswith("-") else "1")
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        set_threads(int(value) if value.startswith("-") else None)


def test_help_states_the_default():
    out = subprocess.run([sys.executable, "-m", "onepass", "train", "--help"], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert "else 1" in " ".join(out.split()) and "OMP_NUM_THREADS" in out

"""Statistics of the analysis package, checked against independent plain-loop recomputations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from onepass.analysis import stats, tables
from onepass.analysis.metrics import divergence_threshold, infer_dataset, pretty_experiment


def loop_bootstrap(values, n_resamples=1000, seed=0):
    """Reference bootstrap: one resample at a time, with the documented draw."""
    x = list(map(float, values))
    n = len(x)
    idx = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    means, medians = [], []
    for row in idx:
        sample = sorted(x[j] for j in row)
        means.append(sum(sample) / n)
        mid = n // 2
        medians.append(sample[mid] if n % 2 else (sample[mid - 1] + sample[mid]) / 2)

    def sd(v):
        m = sum(v) / len(v)
        return math.sqrt(sum((a - m) ** 2 for a in v) / (len(v) - 1))

    xs = sorted(x)
    median = xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
    return sum(x) / n, sd(means), median, sd(medians)


@pytest.mark.parametrize("n", [1, 2, 7, 30])
def test_bootstrap_matches_loop(n):
    values = np.random.default_rng(n).lognormal(size=n)
    got = stats.bootstrap_statistics(values, 1000, seed=4)
    mean, mean_err, median, median_err = loop_bootstrap(values, 1000, seed=4)
    assert got["n"] == n
    assert got["mean"] == pytest.approx(mean)
    assert got["median"] == pytest.approx(median)
    assert got["mean_err"] == pytest.approx(mean_err, abs=1e-12)
    assert got["median_err"] == pytest.approx(median_err, abs=1e-12)


def test_bootstrap_error_is_a_standard_error():
    """Independent of our draws: the bootstrap SE of the mean ≈ sd / sqrt(n)."""
    values = np.random.default_rng(0).normal(size=400)
    got = stats.bootstrap_statistics(values, 1000, seed=1)
    assert got["mean_err"] == pytest.approx(values.std(ddof=1) / 20, rel=0.15)


def test_bootstrap_rejects_nonfinite_and_handles_empty():
    with pytest.raises(ValueError, match="finite"):
        stats.bootstrap_statistics([1.0, np.nan])
    assert math.isnan(stats.bootstrap_statistics([])["mean"])


def _rv(n, val, status=None):
    return pd.DataFrame(
        {
            "experiment": "e",
            "algorithm": "Random_Validation",
            "seed": np.arange(n),
            "status": status or ["ok"] * n,
            "Loss/Validation": val,
            "Loss/Test": np.arange(n) * 1.0,
        }
    )


def test_random_3batched_matches_independent_selection():
    n = 14
    val = np.random.default_rng(5).uniform(size=n)
    val[3] = np.nan  # NaN validation loss: never chosen
    status = ["ok"] * n
    status[7] = "diverged"
    runs = _rv(n, val, status)
    got = stats.random_3batched(runs, seed=11)
    perm = np.random.default_rng(11).permutation(n)
    expected = []
    for t in range(n // 3):
        members = list(perm[3 * t : 3 * t + 3])
        best, best_val = None, None
        for m in members:
            if status[m] == "ok" and not np.isnan(val[m]) and (best_val is None or val[m] < best_val):
                best, best_val = m, val[m]
        expected.append(best)
    assert len(got) == n // 3
    assert (got["algorithm"] == "Random_3Batched").all()
    assert [None if np.isnan(s) else int(s) for s in got["source_seed"]] == expected
    assert list(got["seed"][got["source_seed"].notna()]) == [e for e in expected if e is not None]


def test_random_3batched_all_invalid_triple_is_counted_as_diverged():
    runs = _rv(3, [np.nan, np.nan, 1.0], ["ok", "ok", "diverged"])
    got = stats.random_3batched(runs, seed=0)
    assert len(got) == 1 and got["status"].iloc[0] == "diverged" and np.isnan(got["Loss/Test"].iloc[0])


def test_with_random_3batched_replaces_the_source():
    final = pd.concat([_rv(6, np.arange(6.0)), _rv(3, np.arange(3.0)).assign(algorithm="Random")])
    out = stats.with_random_3batched(final, seed=0)
    assert set(out["algorithm"]) == {"Random", "Random_3Batched"}
    assert (out["algorithm"] == "Random_3Batched").sum() == 2


def test_diverged_mask_counts_status_nan_and_threshold():
    df = pd.DataFrame({"status": ["ok", "diverged", "ok", "ok"], "Loss/Test": [1.0, 1.0, np.nan, 2e3]})
    thr = divergence_threshold("fashion_mnist", "Loss/Test")
    assert thr == 1e3
    assert list(stats.diverged_mask(df, "Loss/Test", thr)) == [False, True, True, True]
    assert divergence_threshold("penn_treebank", "Perplexity/Test") == 1e5
    assert divergence_threshold("uci_energy", "Unnormalised_Loss/Test") == np.inf
    with pytest.raises(KeyError, match="Accuracy"):
        stats.diverged_mask(df, "Accuracy/Test")


def test_bootstrap_median_band_matches_loop():
    m = np.random.default_rng(2).lognormal(size=(9, 5))
    m[0, 4] = np.nan
    line, lo, hi = stats.bootstrap_median_band(m, n_resamples=200, seed=3, chunk=7)
    idx = np.random.default_rng(3).integers(0, 9, size=(200, 9))
    for p in range(5):
        meds = [np.nanmedian(m[row, p]) for row in idx]
        assert line[p] == pytest.approx(np.nanmedian(m[:, p]))
        assert lo[p] == pytest.approx(np.percentile(meds, 2.5))
        assert hi[p] == pytest.approx(np.percentile(meds, 97.5))


def test_best_so_far_and_step_interpolation():
    assert list(stats.best_so_far(np.array([3.0, np.nan, 2.0, 5.0]))) == [3.0, 3.0, 2.0, 2.0]
    assert list(stats.best_so_far(np.array([np.nan, 1.0]))) == [np.inf, 1.0]
    out = stats.step_interpolate(np.array([1.0, 2.0]), np.array([5.0, 4.0]), np.array([0.5, 1.0, 1.5, 9.0]))
    assert list(out) == [np.inf, 5.0, 5.0, 4.0]


@pytest.mark.parametrize(
    ("value", "err", "expected"),
    [
        (3.14159, 0.0234, ("3.14", "0.02")),
        (3.14159, 0.096, ("3.1", "0.1")),
        (1234.5, 23.0, ("1230", "20")),
        (12.34, 1.2, ("12", "1")),
        (0.012345, 0.00049, ("0.0123", "0.0005")),
        (5.0, float("nan"), ("---", "---")),
        (2.5, 0.0, ("2.50", "0")),
    ],
)
def test_rounding_rules(value, err, expected):
    assert tables.format_value_error(value, err) == expected


def test_best_has_three_significant_figures():
    assert tables.format_best(0.0123456) == "0.0123"
    assert tables.format_best(123456.0) == "123000"
    assert tables.format_best(float("nan")) == "---"


def test_bold_rule():
    values = np.array([1.0, 1.05, 1.2, np.nan])
    errors = np.array([0.1, 0.01, 0.01, np.nan])
    assert list(tables.bold_flags(values, errors)) == [True, True, False, False]
    assert list(tables.bold_flags(values, None)) == [True, False, False, False]


def test_dataset_inference():
    """The pipeline passes each job its experiments' config entries: the dataset is looked up there,
    never guessed from the name; only standalone use without them falls back to the name."""
    config = {"Sensitivity": {"dataset": "uci_energy"}, "BayesOpt_uci_energy": {"dataset": "uci_kin8nm"}}
    assert infer_dataset("Sensitivity_T3_i5", config) == "uci_energy"
    assert infer_dataset("BayesOpt_uci_energy", config) == "uci_kin8nm"  # the config wins over the name
    with pytest.raises(ValueError, match=r"experiment 'uci_power' has no 'dataset' in config 'experiments'"):
        infer_dataset("uci_power", config)  # named after a dataset, but not in the mapping: no guess
    assert infer_dataset("BayesOpt_uci_energy") == "uci_energy"
    assert pretty_experiment("uci_energy_ValidationProportion0.25") == "Energy ValidationProportion0.25"
    with pytest.raises(ValueError, match="Sensitivity_T3_i5"):
        infer_dataset("Sensitivity_T3_i5")

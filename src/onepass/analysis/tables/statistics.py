"""Statistics of one table block: per algorithm n, diverged, mean ± err, median ± err, best.

A table is a list of *blocks* (column groups), each built from one or more experiments (several
when rows are merged, e.g. ``[uci_energy, uci_energy_LongDiffThroughOpt_Full]``), with rows =
algorithms in canonical order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import style
from ..metrics import ERROR_METRIC, default_metric, divergence_threshold
from ..stats import (
    DEFAULT_SEED,
    N_RESAMPLES,
    THREE_BATCHED,
    THREE_BATCHED_SOURCE,
    bootstrap_statistics,
    diverged_mask,
)


def table_blocks(experiments: Sequence[Any], merge: Mapping[str, Sequence[str]] | None = None) -> list[list[str]]:
    """Column blocks of a table: each listed experiment, with ``merge[exp]`` rows joined into it.

    ``merge: {uci_energy: [uci_energy_LongDiffThroughOpt_Full]}`` puts the Full DTO row into the
    Energy block (the paper's long-horizon tables); merged experiments get no block of their
    own.  A nested list entry is accepted as an explicit block too.
    """
    merge = dict(merge or {})
    merged = {str(e) for extra in merge.values() for e in extra}
    blocks = []
    for entry in experiments:
        if isinstance(entry, str):
            if entry in merged:
                continue
            block = [entry] + [str(e) for e in merge.get(entry, [])]
        else:
            block = [str(e) for e in entry]
        if not block:
            raise ValueError("table 'experiments' contains an empty block")
        blocks.append(block)
    if not blocks:
        raise ValueError("table has no 'experiments'")
    return blocks


def per_block(option: Any, key: str, default: Any) -> Any:
    """An option given once for all blocks, or as a mapping keyed by the block's first experiment."""
    if isinstance(option, Mapping):
        return option.get(key, default)
    return default if option is None else option


def _best_per_run(final: pd.DataFrame, scalars: pd.DataFrame | None, metric: str) -> np.ndarray:
    """Minimum of the metric over all logged steps of each run, as the authors' tables (docs/FIDELITY.md)."""
    if metric == ERROR_METRIC:
        if scalars is None:
            return pd.to_numeric(final[metric], errors="coerce").to_numpy(float)
        acc = scalars[scalars["tag"] == "Accuracy/Test"]
        best_acc = acc.groupby(["algorithm", "seed"])["value"].max()
        out = []
        for alg, s, src in zip(final["algorithm"], final["seed"], final.get("source_seed", final["seed"]), strict=True):
            key = (THREE_BATCHED_SOURCE, int(src)) if alg == THREE_BATCHED and np.isfinite(src) else (alg, int(s))
            out.append(1.0 - best_acc.get(key, np.nan))
        return np.asarray(out, dtype=float)
    col = f"best:{metric}"
    if col in final.columns:
        return pd.to_numeric(final[col], errors="coerce").to_numpy(float)
    return pd.to_numeric(final[metric], errors="coerce").to_numpy(float)


def block_statistics(
    final: pd.DataFrame,
    metric: str,
    dataset: str,
    scale: float = 1.0,
    value: str = "final",
    scalars: pd.DataFrame | None = None,
    n_resamples: int = N_RESAMPLES,
    seed: int = DEFAULT_SEED,
    algorithms: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Statistics of one block: per algorithm n, diverged, mean ± err, median ± err, best (× scale).

    ``value='final'`` summarises final values; ``'best_so_far'`` summarises each run's best
    value over all steps (the BayesOpt comparison, an oracle selection by test loss).
    Diverged runs (status, non-finite, or above the dataset threshold; for errors, a
    diverged loss) are excluded from every statistic and counted in ``n_diverged``.
    """
    if value not in ("final", "best_so_far"):
        raise ValueError(f"table option 'value' must be 'final' or 'best_so_far', not {value!r}")
    if metric not in final.columns:
        raise KeyError(f"metric {metric!r} not in the final-value table of {sorted(final['experiment'].unique())}")
    loss_metric = default_metric(dataset) if metric == ERROR_METRIC else metric
    threshold = divergence_threshold(dataset, loss_metric)
    names = style.order(final["algorithm"])
    if algorithms is not None:
        names = [a for a in algorithms if a in set(names)]
    rows = []
    for alg in names:
        sub = final[final["algorithm"] == alg]
        div = diverged_mask(sub, metric, np.inf)
        if loss_metric in sub.columns:
            div |= diverged_mask(sub, loss_metric, threshold)
        per_run_best = _best_per_run(sub, scalars, metric)
        vals = per_run_best if value == "best_so_far" else pd.to_numeric(sub[metric], errors="coerce").to_numpy(float)
        vals = vals[~div]
        div_count = int(div.sum()) + int(np.sum(~np.isfinite(vals)))
        vals = vals[np.isfinite(vals)] * scale
        st = bootstrap_statistics(vals, n_resamples, seed)
        best_vals = per_run_best[~div]
        best_vals = best_vals[np.isfinite(best_vals)] * scale
        rows.append(
            {
                "algorithm": alg,
                "label": style.label(alg),
                "n_runs": len(sub),
                "n_diverged": div_count,
                "n_used": st["n"],
                "mean": st["mean"],
                "mean_err": st["mean_err"],
                "median": st["median"],
                "median_err": st["median_err"],
                "best": float(best_vals.min()) if len(best_vals) else np.nan,
            }
        )
    return pd.DataFrame(rows)

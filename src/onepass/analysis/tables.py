"""Result tables (LaTeX + CSV) with bootstrap errors, the paper's rounding and bold rules.

One generic implementation serves every table kind: a table is a list of *blocks* (column
groups), each built from one or more experiments (several when rows are merged, e.g.
``[uci_energy, uci_energy_LongDiffThroughOpt_Full]``), with rows = algorithms in canonical
order.  Per block the columns are mean ± err, median ± err, best, as in the paper.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import style
from .loading import atomic_write_csv, atomic_write_text, experiment_of, read_finals, read_scalars_many
from .metrics import (
    ERROR_METRIC,
    METRIC_SHORT,
    default_metric,
    default_scale,
    divergence_threshold,
    infer_dataset,
    pretty_experiment,
)
from .stats import (
    DEFAULT_SEED,
    N_RESAMPLES,
    THREE_BATCHED,
    THREE_BATCHED_SOURCE,
    bootstrap_statistics,
    diverged_mask,
    with_random_3batched,
)

TABLE_KINDS = ("AverageResults", "AverageErrors")
#: Kinds whose "best" needs the per-step scalars (best error = 1 − max accuracy over steps).
NEEDS_SCALARS = {"AverageErrors"}


# ------------------------------------------------------------------------------- formatting
def _decimals_for_error(err: float) -> int:
    """Decimal places that round ``err`` to one significant figure (negative = tens, ...)."""
    d = -math.floor(math.log10(abs(err)))
    if abs(round(err, d)) >= 10.0 ** (1 - d):  # 0.096 -> 0.1 moves up a decade
        d -= 1
    return d


def format_value_error(value: float, err: float) -> tuple[str, str]:
    """Error to 1 significant figure, value to the same decimal place; integers if err ≥ 1.

    A NaN (or infinite) value or error gives ``---`` for both (as the authors' tables); a zero error
    (a single run) shows the value to 3 significant figures and the error as ``0``.
    """
    if not (np.isfinite(value) and np.isfinite(err)):
        return "---", "---"
    if err == 0:
        return format_best(value), "0"
    d = _decimals_for_error(err)
    if d <= 0:
        return str(int(round(value, d))), str(int(round(err, d)))
    return f"{round(value, d):.{d}f}", f"{round(err, d):.{d}f}"


def format_best(value: float) -> str:
    """Three significant figures without scientific notation (``---`` if not finite)."""
    if not np.isfinite(value):
        return "---"
    if value == 0:
        return "0"
    d = 2 - math.floor(math.log10(abs(value)))
    if d <= 0:
        return str(int(round(value, d)))
    return f"{round(value, d):.{d}f}"


def bold_flags(values: np.ndarray, errors: np.ndarray | None) -> np.ndarray:
    """Bold rule: every value ≤ (column minimum + the minimum's error); with no errors, = minimum."""
    v = np.asarray(values, dtype=float)
    flags = np.zeros(v.shape, dtype=bool)
    finite = np.isfinite(v)
    if not finite.any():
        return flags
    k = int(np.nanargmin(np.where(finite, v, np.nan)))
    limit = v[k]
    if errors is not None and np.isfinite(errors[k]):
        limit = v[k] + float(errors[k])
    flags[finite] = v[finite] <= limit
    return flags


# ------------------------------------------------------------------------------- statistics
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


def _per_block(option: Any, key: str, default: Any) -> Any:
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


# ----------------------------------------------------------------------------------- LaTeX
def _tex_escape(text: str) -> str:
    return text.replace("&", r"\&").replace("%", r"\%").replace("_", r"\_").replace("×", r"$\times$")


def _cell(text: str, bold: bool) -> str:
    return rf"\textbf{{{text}}}" if bold and text != "---" else text


def render_latex(stats: pd.DataFrame, name: str, note: str) -> str:
    """A booktabs tabular (rows: algorithms; per block: mean ± err, median ± err, best) and a note."""
    blocks = list(dict.fromkeys(stats["block"]))
    headers = {b: stats.loc[stats["block"] == b, "header"].iloc[0] for b in blocks}
    algs = style.order(stats["algorithm"])
    lines = [
        f"% {name}: generated by onepass.analysis.tables from results/scalars",
        "% needs \\usepackage{booktabs}",
        r"\begin{tabular}{l" + "rlrlr" * len(blocks) + "}",
        r"\toprule",
        " & ".join([""] + [rf"\multicolumn{{5}}{{c}}{{{_tex_escape(headers[b])}}}" for b in blocks]) + r" \\",
        " ".join(rf"\cmidrule(lr){{{2 + 5 * k}-{6 + 5 * k}}}" for k in range(len(blocks))),
        " & ".join(["Algorithm"] + [r"\multicolumn{2}{c}{Mean} & \multicolumn{2}{c}{Median} & Best"] * len(blocks))
        + r" \\",
        r"\midrule",
    ]
    for alg in algs:
        cells = [style.latex_label(alg)]
        for b in blocks:
            r = stats[(stats["block"] == b) & (stats["algorithm"] == alg)]
            if r.empty:
                cells += ["", "", "", "", ""]
                continue
            r = r.iloc[0]
            cells += [
                _cell(r["mean_text"], r["mean_bold"]),
                rf"$\pm${r['mean_err_text']}",
                _cell(r["median_text"], r["median_bold"]),
                rf"$\pm${r['median_err_text']}",
                _cell(r["best_text"], r["best_bold"]),
            ]
        lines.append(" & ".join(cells) + r" \\")
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        r"\par\smallskip",
        rf"{{\footnotesize {_tex_escape(note)}}}",
        "",
    ]
    return "\n".join(lines)


def divergence_note(stats: pd.DataFrame) -> str:
    """Plain-text note listing diverged runs per block ("Energy: Random 3 of 200; ...")."""
    parts = []
    for b in dict.fromkeys(stats["block"]):
        s = stats[stats["block"] == b]
        header = s["header"].iloc[0]
        div = [f"{r.label} {r.n_diverged} of {r.n_runs}" for r in s.itertuples() if r.n_diverged]
        parts.append(f"{header}: " + (", ".join(div) if div else "none"))
    note = "Diverged runs (excluded from the statistics): " + "; ".join(parts) + "."
    if (stats["algorithm"] == THREE_BATCHED).any():
        note += (
            " Random (3-batched): the Random_Validation runs, shuffled with a fixed seed and grouped in"
            " threes, keeping the lowest final validation loss of each triple."
        )
    return note


def _one_block(
    kind: str,
    options: Mapping[str, Any],
    key: str,
    block: Sequence[str],
    final: pd.DataFrame,
    dataset: str,
    metric: str,
    several_metrics: bool,
    scal_by_exp: Mapping[str, str],
    n_resamples: int,
    seed: int,
    algorithms: Sequence[str] | None,
) -> pd.DataFrame:
    """Statistics, header and bold flags of one column block (one experiment group, one metric)."""
    scale = float(_per_block(options.get("scale"), key, None) or default_scale(key))
    if metric == ERROR_METRIC:
        scale = float(_per_block(options.get("scale"), key, None) or 1.0)
    scalars = None
    if metric == ERROR_METRIC and all(e in scal_by_exp for e in block):
        scalars = read_scalars_many([scal_by_exp[e] for e in block], tags=["Accuracy/Test"])
    block_id = f"{key}:{metric}" if several_metrics else key
    header = _per_block(options.get("headers"), block_id, None) or _per_block(options.get("headers"), key, None)
    if header is None:
        header = pretty_experiment(key, dataset)
        if kind == "AverageErrors" or several_metrics:
            header += f" {METRIC_SHORT.get(metric, metric)}"
        if scale != 1:
            header += f" (×{scale:g})"
    stats = block_statistics(
        final,
        metric,
        dataset,
        scale,
        str(options.get("value", "final") or "final"),
        scalars,
        n_resamples,
        seed,
        algorithms,
    )
    stats.insert(0, "block", block_id)
    stats.insert(1, "experiments", "+".join(block))
    stats.insert(2, "header", header)
    stats.insert(3, "metric", metric)
    stats.insert(4, "scale", scale)
    bold = bool(options.get("bold", True))
    stats["mean_bold"] = bold_flags(stats["mean"].to_numpy(float), stats["mean_err"].to_numpy(float)) & bold
    stats["median_bold"] = bold_flags(stats["median"].to_numpy(float), stats["median_err"].to_numpy(float)) & bold
    stats["best_bold"] = bold_flags(stats["best"].to_numpy(float), None) & bold
    return stats


def build_table(
    kind: str,
    name: str,
    options: Mapping[str, Any],
    inputs: Mapping[str, Sequence[str]],
    tex_path: str | os.PathLike[str],
    csv_path: str | os.PathLike[str],
    experiments_config: Mapping[str, Any] | None = None,
    skip: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Build one configured table; write ``<Name>.tex`` and the ``<Name>.csv`` statistics atomically.

    Options: ``experiments`` (list), ``merge`` (rows of other experiments joined into a block, see
    :func:`table_blocks`), ``metric``, ``scale``, ``headers`` (each a value or a mapping keyed by the block's
    first experiment), ``bold`` (default true), ``algorithms`` (filter + order), ``value``
    (``final`` | ``best_so_far``), ``three_batched`` (default true), ``seed``, ``n_resamples``,
    ``metrics`` (a list: one block per metric and experiment group, e.g. CE and error).
    ``skip`` names experiments left out because their results do not exist yet (black-box
    baselines); the table note says so.
    """
    if kind not in TABLE_KINDS:
        raise ValueError(f"table {name!r}: unknown kind {kind!r} (known: {', '.join(TABLE_KINDS)})")
    if "experiments" not in options:
        raise KeyError(f"table {name!r}: option 'experiments' is required")
    by_exp = {experiment_of(p): p for p in inputs.get("final", [])}
    scal_by_exp = {experiment_of(p): p for p in inputs.get("scalars", [])}
    seed = int(options.get("seed", DEFAULT_SEED) or 0)
    n_resamples = int(options.get("n_resamples", N_RESAMPLES) or N_RESAMPLES)
    algorithms = options.get("algorithms")
    frames = []
    skip = set(skip or [])
    blocks = [[e for e in b if e not in skip] for b in table_blocks(options["experiments"], options.get("merge"))]
    blocks = [b for b in blocks if b]
    if not blocks:
        raise ValueError(f"table {name!r}: none of its experiments is available (skipped: {sorted(skip)})")
    metrics_option = options.get("metrics")
    for block in blocks:
        missing = [e for e in block if e not in by_exp]
        if missing:
            raise FileNotFoundError(f"table {name!r}: no _final.csv input for experiment(s) {missing}")
        key = block[0]
        final = read_finals([by_exp[e] for e in block])
        if options.get("three_batched", True):
            final = with_random_3batched(final, int(options.get("three_batched_seed", DEFAULT_SEED) or 0))
        dataset = infer_dataset(key, experiments_config)
        if metrics_option:
            metrics = list(metrics_option)
        else:
            metrics = [_per_block(options.get("metric"), key, None) or default_metric(dataset, kind == "AverageErrors")]
        for metric in metrics:
            frames.append(
                _one_block(
                    kind,
                    options,
                    key,
                    block,
                    final,
                    dataset,
                    metric,
                    len(metrics) > 1,
                    scal_by_exp,
                    n_resamples,
                    seed,
                    algorithms,
                )
            )
    stats = pd.concat(frames, ignore_index=True)
    texts = [format_value_error(m, e) for m, e in zip(stats["mean"], stats["mean_err"], strict=True)]
    stats["mean_text"], stats["mean_err_text"] = [t[0] for t in texts], [t[1] for t in texts]
    texts = [format_value_error(m, e) for m, e in zip(stats["median"], stats["median_err"], strict=True)]
    stats["median_text"], stats["median_err_text"] = [t[0] for t in texts], [t[1] for t in texts]
    stats["best_text"] = [format_best(b) for b in stats["best"]]
    note = divergence_note(stats)
    if skip:
        note += f" Not yet available, left out: {', '.join(sorted(skip))}."
    atomic_write_csv(stats, csv_path)
    atomic_write_text(tex_path, render_latex(stats, name, note))
    return stats

"""Build one configured table: its blocks' statistics, written as LaTeX and CSV atomically."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..loading import atomic_write_csv, atomic_write_text, experiment_of, read_finals, read_scalars_many
from ..metrics import ERROR_METRIC, METRIC_SHORT, default_metric, default_scale, infer_dataset, pretty_experiment
from ..stats import DEFAULT_SEED, N_RESAMPLES, with_random_3batched
from .formatting import add_text_columns, bold_flags
from .latex import divergence_note, render_latex
from .registry import TABLE_KINDS, TableKind
from .statistics import block_statistics, per_block, table_blocks


def _header(kind: TableKind, options: Mapping[str, Any], key: str, metric: str, several: bool, dataset: str, scale):
    """Column header of a block: the ``headers`` option, else the dataset label (+ metric, scale)."""
    block_id = f"{key}:{metric}" if several else key
    header = per_block(options.get("headers"), block_id, None) or per_block(options.get("headers"), key, None)
    if header is None:
        header = pretty_experiment(key, dataset)
        if kind.error or several:
            header += f" {METRIC_SHORT.get(metric, metric)}"
        if scale != 1:
            header += f" (×{scale:g})"
    return header


def _block_frame(
    kind: TableKind,
    options: Mapping[str, Any],
    block: Sequence[str],
    final: pd.DataFrame,
    dataset: str,
    metric: str,
    several_metrics: bool,
    inputs: Mapping[str, Sequence[str]],
) -> pd.DataFrame:
    """Statistics, header and bold flags of one column block (one experiment group, one metric)."""
    key = block[0]
    scale = float(per_block(options.get("scale"), key, None) or default_scale(dataset))
    if metric == ERROR_METRIC:
        scale = float(per_block(options.get("scale"), key, None) or 1.0)
    scal_by_exp = {experiment_of(p): p for p in inputs.get("scalars", [])}
    scalars = None
    if metric == ERROR_METRIC and all(e in scal_by_exp for e in block):
        scalars = read_scalars_many([scal_by_exp[e] for e in block], tags=["Accuracy/Test"])
    block_id = f"{key}:{metric}" if several_metrics else key
    stats = block_statistics(
        final,
        metric,
        dataset,
        scale,
        str(options.get("value", "final") or "final"),
        scalars,
        int(options.get("n_resamples", N_RESAMPLES) or N_RESAMPLES),
        int(options.get("seed", DEFAULT_SEED) or 0),
        options.get("algorithms"),
    )
    if stats.empty:  # nothing to tabulate: say which files, not a bare KeyError on a missing column
        files = [str(f) for f in inputs.get("final", []) if experiment_of(f) in block]
        wanted = options.get("algorithms")
        raise ValueError(
            f"{', '.join(files) or key}: no runs to tabulate"
            + (f" for algorithms {list(wanted)}" if wanted else " (the file holds no rows)")
        )
    stats.insert(0, "block", block_id)
    stats.insert(1, "experiments", "+".join(block))
    stats.insert(2, "header", _header(kind, options, key, metric, several_metrics, dataset, scale))
    stats.insert(3, "metric", metric)
    stats.insert(4, "scale", scale)
    bold = bool(options.get("bold", True))
    stats["mean_bold"] = bold_flags(stats["mean"].to_numpy(float), stats["mean_err"].to_numpy(float)) & bold
    stats["median_bold"] = bold_flags(stats["median"].to_numpy(float), stats["median_err"].to_numpy(float)) & bold
    stats["best_bold"] = bold_flags(stats["best"].to_numpy(float), None) & bold
    return stats


def _block_frames(
    kind: TableKind,
    name: str,
    options: Mapping[str, Any],
    block: Sequence[str],
    inputs: Mapping[str, Sequence[str]],
    experiments_config: Mapping[str, Any] | None,
) -> list[pd.DataFrame]:
    """One frame per metric of a block: its experiments' final values (+ Random (3-batched))."""
    by_exp = {experiment_of(p): p for p in inputs.get("final", [])}
    missing = [e for e in block if e not in by_exp]
    if missing:
        raise FileNotFoundError(f"table {name!r}: no _final.csv input for experiment(s) {missing}")
    key = block[0]
    final = read_finals([by_exp[e] for e in block])
    if options.get("three_batched", True):
        final = with_random_3batched(final, int(options.get("three_batched_seed", DEFAULT_SEED) or 0))
    dataset = infer_dataset(key, experiments_config)
    if options.get("metrics"):
        metrics = list(options["metrics"])
    else:
        metrics = [per_block(options.get("metric"), key, None) or default_metric(dataset, kind.error)]
    return [_block_frame(kind, options, block, final, dataset, m, len(metrics) > 1, inputs) for m in metrics]


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
    skip = set(skip or [])
    blocks = [[e for e in b if e not in skip] for b in table_blocks(options["experiments"], options.get("merge"))]
    blocks = [b for b in blocks if b]
    if not blocks:
        raise ValueError(f"table {name!r}: none of its experiments is available (skipped: {sorted(skip)})")
    frames = []
    for block in blocks:
        frames += _block_frames(TABLE_KINDS[kind], name, options, block, inputs, experiments_config)
    stats = pd.concat(frames, ignore_index=True)
    add_text_columns(stats)
    note = divergence_note(stats)
    if skip:
        note += f" Not yet available, left out: {', '.join(sorted(skip))}."
    atomic_write_csv(stats, csv_path)
    atomic_write_text(tex_path, render_latex(stats, name, note))
    return stats

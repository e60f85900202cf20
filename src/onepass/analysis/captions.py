"""Report captions per figure/table kind (standard library only: used by the rule files).

The Snakemake report renders ``workflow/report/*.rst`` with Jinja; those files print the
caption computed here from the figure's kind and options (``snakemake.params.caption``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .metrics import default_metric, infer_dataset, metric_label

_BAND = "the band is the 2.5-97.5 percentile range of that median over 1000 seeded bootstrap resamples of the runs"

FIGURE_TEXT: dict[str, str] = {
    "CDF": "Empirical CDF of the final {metric} over all runs of each algorithm ({experiments}). Diverged "
    "runs stay in the denominator, so a curve ends below 1 at the fraction of finite runs; the "
    "legend counts them. Random (3-batched) keeps, per seeded triple of Random_Validation runs, "
    "the lowest final validation loss.",
    "CDF_Error": "Empirical CDF of the final test error (1 - accuracy) per algorithm ({experiments}); runs "
    "whose loss diverged are counted in the legend and end the curve below 1.",
    "Envelope": "Median {metric} over runs against the network weight-update step ({experiments}); "
    + _BAND
    + ". Diverged runs are excluded and counted in the legend.",
    "HPOCurves": "Best {metric} seen so far against elapsed wall time, median over runs ({experiments}); "
    + _BAND
    + ". Best-so-far selects by the test metric, i.e. an oracle selection, as in the paper. "
    "Bayesian Optimisation repetitions concatenate their trials in time.",
    "Runtime": "Violins of per-run training time in seconds (excluding evaluation; the wall time is in "
    "the final CSV as wall_seconds) per algorithm ({experiments}); o = mean, x = median. Only runs "
    "with a finite final metric are shown; diverged runs are counted on the axis labels.",
    "LR": "Learning-rate schedule of every algorithm from one shared initialisation (seed {seed}, "
    "{experiments}); per-parameter learning rates (HDLR) are shown as their mean with the 5-95% "
    "quantile band.",
    "Sensitivity": "Median final {metric} x{scale} over runs for {algorithm} at each update interval T and "
    "look-back distance i ({experiments}); the colour scale is shared with the other sensitivity "
    "heatmaps, and the single cell is the Random reference. Diverged runs are excluded and counted.",
    "Hypergradients": "Accuracy of the Neumann (look-back i) hypergradient against the exact one "
    "(differentiating through the last i steps) for the {hyperparameter}, at each update interval "
    "T and look-back i. Left: the paper's metric, the relative error of the first Adam(lr 0.05) "
    "step (mean over seeds; mostly sign agreement). Right: the raw relative hypergradient error "
    "abs(neumann - exact) / abs(exact) (median over seeds).",
    "ProofOfConcept": "Learning-rate and weight-decay trajectories of 20 Ours (WD+LR) runs (start o, end "
    "square) over a GP-interpolated landscape of final {metric} of the Random runs (log10 final "
    "loss regressed on log10 initial lr and wd; diverged/NaN runs set to 150, labelled NaN).",
}

TABLE_TEXT: dict[str, str] = {
    "AverageResults": "Mean and median of the final {metric} per algorithm with bootstrap standard errors "
    "(1000 seeded resamples) and the best value over all logged steps ({experiments}). "
    "Bold: within one error of the best. Diverged runs are counted in the table note.",
    "AverageErrors": "Mean and median of the final test error (1 - accuracy) per algorithm with bootstrap "
    "standard errors (1000 seeded resamples) and the best error over all logged steps "
    "({experiments}). Diverged runs are counted in the table note.",
}


def _flat(experiments: Any) -> list[str]:
    out: list[str] = []
    for e in experiments or []:
        out.extend([e] if isinstance(e, str) else [str(x) for x in e])
    return out


def _metric_text(options: Mapping[str, Any], experiments_config: Mapping[str, Any] | None) -> str:
    metric = options.get("metric")
    if isinstance(metric, str):
        return metric_label(metric)
    exps = _flat(options.get("experiments"))
    try:
        return metric_label(default_metric(infer_dataset(exps[0], experiments_config)))
    except (ValueError, IndexError):
        return "test metric"


def figure_caption(name: str, options: Mapping[str, Any], experiments_config: Mapping[str, Any] | None = None) -> str:
    kind = str(options.get("kind", ""))
    text = FIGURE_TEXT.get(kind, "{name}")
    hp = options.get("hyperparameter") or ("weight decay" if name.endswith("Weight_Decay") else "learning rate")
    fields = {
        "name": name,
        "metric": _metric_text(options, experiments_config),
        "experiments": ", ".join(_flat(options.get("experiments"))),
        "seed": options.get("seed", 0),
        "scale": options.get("scale", 1000),
        "algorithm": options.get("algorithm", "?"),
        "hyperparameter": str(hp).replace("_", " "),
    }
    return f"**{name}.** " + text.format(**fields) + " Every plotted statistic is in the CSV sidecar."


def table_caption(name: str, options: Mapping[str, Any], experiments_config: Mapping[str, Any] | None = None) -> str:
    kind = str(options.get("kind", ""))
    text = TABLE_TEXT.get(kind, "{name}")
    fields = {
        "metric": _metric_text(options, experiments_config),
        "experiments": ", ".join(_flat(options.get("experiments"))),
        "name": name,
    }
    if options.get("value") == "best_so_far":
        text += " Values are each run's best test value over all steps (an oracle selection, as in the paper)."
    return f"**{name}.** " + text.format(**fields)

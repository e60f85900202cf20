"""Report captions of figures and tables (standard library only: used by the rule files).

The Snakemake report renders ``workflow/report/*.rst`` with Jinja; those files print the
caption computed here from the kind's caption text (``figures/registry.py``,
``tables/registry.py``) filled in with the figure's options (``snakemake.params.caption``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .figures.registry import FIGURE_KINDS
from .metrics import default_metric, infer_dataset, metric_label
from .tables.registry import TABLE_KINDS


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
    text = FIGURE_KINDS[kind].caption if kind in FIGURE_KINDS else "{name}"
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
    text = TABLE_KINDS[kind].caption if kind in TABLE_KINDS else "{name}"
    fields = {
        "metric": _metric_text(options, experiments_config),
        "experiments": ", ".join(_flat(options.get("experiments"))),
        "name": name,
    }
    if options.get("value") == "best_so_far":
        text += " Values are each run's best test value over all steps (an oracle selection, as in the paper)."
    return f"**{name}.** " + text.format(**fields)

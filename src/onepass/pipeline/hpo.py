"""Config checks and plan of the black-box HPO baselines (`kind: bayesopt` and `kind: ray`).

The Snakefile evaluates these once at parse time; the rules' input functions are then dict
look-ups. Errors name the config key path, like the training checks.
"""

from __future__ import annotations

import json
import math
import shlex
from typing import Any

from ..baselines.raytune import names as ray_names
from ..training.dataset_facts import bayesopt_penalty
from .errors import fail
from .jobs import flatten_overrides, per_algorithm, set_arguments

BAYESOPT_KEYS = {
    "kind",
    "enabled",
    "description",
    "dataset",
    "repetitions",
    "random_trials",
    "guided_trials",
    "overrides",
    "penalty",
    "kappa",
    "bounds",
}
RAY_KEYS = {
    "kind",
    "enabled",
    "description",
    "dataset",
    "scheduler",
    "schedulers",
    "algorithms",
    "num_samples",
    "max_steps",
    "perturbation_interval",
    "grace_period",
    "reduction_factor",
    "cpus",
    "seed",
    "overrides",
    "table",
    "figure",
}
# Ray names, defined once in onepass.baselines.raytune.names:
SCHEDULERS = ray_names.SCHEDULERS  # ASHA, PBT
RAY_ALGORITHMS = tuple(ray_names.ALGORITHMS)  # outer algorithms: Random, Ours_LR_Momentum
RAY_SEARCH_NAMES = ray_names.SEARCH_NAMES  # <scheduler>_<algorithm>: rule ray_search's wildcard constraint
PAPER_SAMPLES = {"ASHA": 114286, "PBT": 200}
BOUNDS_KEYS = ("lr_log10", "weight_decay_log10", "momentum")


def _positive_int(value: Any, path: str, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        fail(path, f"must be a {'non-negative' if allow_zero else 'positive'} integer, got {value!r}")
    return value


def _check_common(name: str, entry: dict[str, Any], allowed: set[str], catalog: dict[str, Any]) -> str:
    base = f"experiments.{name}"
    unknown = sorted(set(entry) - allowed)
    if unknown:
        fail(f"{base}.{unknown[0]}", f"unknown key for kind {entry['kind']}; allowed: {', '.join(sorted(allowed))}")
    if "dataset" not in entry:
        fail(f"{base}.dataset", "missing")
    if entry["dataset"] not in catalog:
        fail(f"{base}.dataset", f"unknown dataset '{entry['dataset']}'; known: {', '.join(catalog)}")
    if not isinstance(entry.get("overrides") or {}, dict):
        fail(f"{base}.overrides", "must be a mapping of training settings")
    return base


def _check_bounds(bounds: Any, base: str) -> dict[str, Any]:
    if not isinstance(bounds, dict):
        fail(f"{base}.bounds", "must be a mapping like {lr_log10: [-6, -1]}")
    for key, value in bounds.items():
        if key not in BOUNDS_KEYS:
            fail(f"{base}.bounds.{key}", f"unknown; allowed: {', '.join(BOUNDS_KEYS)}")
        if not (isinstance(value, list) and len(value) == 2 and value[0] < value[1]):
            fail(f"{base}.bounds.{key}", f"must be [low, high] with low < high, got {value!r}")
    return bounds


def _bayesopt_entry(name: str, entry: dict[str, Any], cfg: dict[str, Any], catalog: dict[str, Any]) -> dict | None:
    """Check one `kind: bayesopt` experiment; its plan entry, or None when disabled."""
    base = _check_common(name, entry, BAYESOPT_KEYS, catalog)
    if "repetitions" not in entry:
        fail(f"{base}.repetitions", "missing (number of BayesOpt repetitions)")
    reps = _positive_int(entry["repetitions"], f"{base}.repetitions")
    n_random = _positive_int(entry.get("random_trials", 5), f"{base}.random_trials", allow_zero=True)
    n_guided = _positive_int(entry.get("guided_trials", 25), f"{base}.guided_trials", allow_zero=True)
    if n_random + n_guided < 1:
        fail(f"{base}.random_trials", "random_trials + guided_trials must be at least 1")
    penalty = entry.get("penalty")
    if penalty is not None and (isinstance(penalty, bool) or not isinstance(penalty, (int, float))):
        fail(f"{base}.penalty", f"must be a number, got {penalty!r}")
    if penalty is None and bayesopt_penalty(entry["dataset"]) is None:
        fail(f"{base}.penalty", f"no default penalty for dataset '{entry['dataset']}'; set one")
    bounds = _check_bounds(entry.get("bounds") or {}, base)
    if not entry.get("enabled", True):
        return None
    dataset = catalog[entry["dataset"]]
    overrides = flatten_overrides(entry.get("overrides"))
    steps = overrides.get("update_interval", dataset["update_interval"]) * overrides.get(
        "hyperparameter_steps", dataset["hyperparameter_steps"]
    )
    scale = steps / (dataset["update_interval"] * dataset["hyperparameter_steps"])
    per_trial = per_algorithm(dataset["runtime_per_seed"], "Random_Validation", f"catalog.{entry['dataset']}")
    words = [
        f"--dataset-config {entry['dataset']}",
        f"--random-trials {n_random}",
        f"--guided-trials {n_guided}",
        f"--device {cfg.get('device', 'auto')}",
        f"--experiment {name}",
    ]
    if penalty is not None:
        words.append(f"--penalty {float(penalty)!r}")
    if "kappa" in entry:
        words.append(f"--kappa {float(entry['kappa'])!r}")
    if bounds:
        words.append(f"--bounds {shlex.quote(json.dumps(bounds))}")
    if overrides:
        words.append(set_arguments(overrides))
    width = max(3, len(str(reps - 1)))
    mem_mb = per_algorithm(dataset["mem_mb"], "Random_Validation", f"catalog.{entry['dataset']}.mem_mb")
    return {
        "dataset": entry["dataset"],
        "reps": [f"rep{r:0{width}d}" for r in range(reps)],
        "arguments": " ".join(words),
        "threads": int(dataset["threads"]),
        "gpu": 1 if dataset["gpu"] else 0,
        "mem_mb": int(mem_mb),
        "runtime": int(math.ceil(dataset["runtime_overhead"] + per_trial * (n_random + n_guided) * scale * 1.2)),
    }


def bayesopt_plan(cfg: dict[str, Any], catalog: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{experiment: settings} of the enabled `kind: bayesopt` experiments, checked (key paths in errors)."""
    plan = {}
    for name, entry in (cfg.get("experiments") or {}).items():
        if isinstance(entry, dict) and entry.get("kind") == "bayesopt":
            settings = _bayesopt_entry(name, entry, cfg, catalog)
            if settings is not None:
                plan[name] = settings
    return plan


def _ray_searches(entry: dict[str, Any], base: str) -> dict[str, dict[str, Any]]:
    """{<scheduler>_<algorithm>: {scheduler, algorithm, n}} of one Ray experiment, checked."""
    if "scheduler" in entry and "schedulers" in entry:
        fail(f"{base}.schedulers", "give either 'scheduler' or 'schedulers', not both")
    schedulers = entry.get("schedulers", [entry["scheduler"]] if "scheduler" in entry else None)
    if not isinstance(schedulers, list) or not schedulers:
        fail(f"{base}.scheduler", f"missing: {' or '.join(SCHEDULERS)} (or schedulers: [{', '.join(SCHEDULERS)}])")
    schedulers = [str(s).upper() for s in schedulers]
    for index, scheduler in enumerate(schedulers):
        if scheduler not in SCHEDULERS:
            fail(f"{base}.schedulers[{index}]", f"unknown scheduler '{scheduler}'; allowed: {', '.join(SCHEDULERS)}")
    algorithms = entry.get("algorithms", list(RAY_ALGORITHMS))
    if not isinstance(algorithms, list) or not algorithms:
        fail(f"{base}.algorithms", "must be a non-empty list")
    for index, algorithm in enumerate(algorithms):
        if algorithm not in RAY_ALGORITHMS:
            fail(f"{base}.algorithms[{index}]", f"'{algorithm}' not allowed; allowed: {', '.join(RAY_ALGORITHMS)}")
    samples = entry.get("num_samples", {})
    searches = {}
    for scheduler in schedulers:
        count = samples.get(scheduler, PAPER_SAMPLES[scheduler]) if isinstance(samples, dict) else samples
        _positive_int(count, f"{base}.num_samples")
        for algorithm in algorithms:
            name = ray_names.algorithm_name(scheduler, algorithm)
            searches[name] = {"scheduler": scheduler, "algorithm": algorithm, "n": count}
    return searches


def _ray_entry(name: str, entry: dict[str, Any], catalog: dict[str, Any]) -> dict | None:
    """Check one `kind: ray` experiment; its plan entry, or None when disabled."""
    base = _check_common(name, entry, RAY_KEYS, catalog)
    searches = _ray_searches(entry, base)
    max_steps = _positive_int(entry.get("max_steps", 4000), f"{base}.max_steps")
    interval = _positive_int(entry.get("perturbation_interval", 100), f"{base}.perturbation_interval")
    cpus = _positive_int(entry.get("cpus", 8), f"{base}.cpus")
    table = entry.get("table")
    if table is not None and not isinstance(table, (str, dict)):
        fail(f"{base}.table", "must be a table name or {name: ..., <AverageResults options>}")
    if isinstance(table, dict) and "name" not in table:
        fail(f"{base}.table.name", "missing")
    figure = entry.get("figure")
    if figure is not None and not isinstance(figure, str):
        fail(f"{base}.figure", "must be a figure name, e.g. HPOCurves_Ray")
    if not entry.get("enabled", True):
        return None
    common = [
        f"--dataset-config {entry['dataset']}",
        f"--max-steps {max_steps}",
        f"--perturbation-interval {interval}",
        f"--reduction-factor {float(entry.get('reduction_factor', 4))!r}",
        f"--seed {int(entry.get('seed', 0))}",
        f"--num-cpus {cpus}",
        f"--experiment {name}",
    ]
    if entry.get("grace_period") is not None:
        common.append(f"--grace-period {_positive_int(entry['grace_period'], f'{base}.grace_period')}")
    overrides = flatten_overrides(entry.get("overrides"))
    if overrides:
        common.append(set_arguments(overrides))
    per_trial = per_algorithm(catalog[entry["dataset"]]["runtime_per_seed"], "Ours_LR_Momentum", base)
    for search in searches.values():
        minutes = per_trial * search["n"] * max_steps / 4000 / cpus
        search["runtime"] = int(math.ceil(30 + minutes * 2))
    return {
        "dataset": entry["dataset"],
        "searches": searches,
        "arguments": " ".join(common),
        "cpus": cpus,
        "table": table if isinstance(table, dict) else ({"name": table} if table else None),
        "figure": figure,
    }


def ray_plan(cfg: dict[str, Any], catalog: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{experiment: settings} of the enabled `kind: ray` experiments, checked (key paths in errors)."""
    plan = {}
    for name, entry in (cfg.get("experiments") or {}).items():
        if isinstance(entry, dict) and entry.get("kind") == "ray":
            settings = _ray_entry(name, entry, catalog)
            if settings is not None:
                plan[name] = settings
    return plan


def ray_tables(ray: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{table name: AverageResults options} of the enabled Ray experiments."""
    tables = {}
    for name, plan in ray.items():
        if plan["table"]:
            options = {k: v for k, v in plan["table"].items() if k != "name"}
            options.setdefault("experiments", [name])
            options.setdefault("algorithms", list(plan["searches"]))
            options.setdefault("three_batched", False)
            options.setdefault("bold", False)
            options.setdefault("kind", "AverageResults")
            tables[plan["table"]["name"]] = options
    return tables


def ray_figures(ray: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """{figure name: [ray experiments]} of the enabled Ray experiments."""
    figures: dict[str, list[str]] = {}
    for name, plan in ray.items():
        if plan["figure"]:
            figures.setdefault(plan["figure"], []).append(name)
    return figures


def check_ray_outputs(cfg: dict[str, Any], tables: dict[str, Any], figures: dict[str, Any]) -> None:
    """A Ray experiment's table/figure must not also be declared under tables/figures."""
    for name in list(tables) + list(figures):
        if name in (cfg.get("tables") or {}) or name in (cfg.get("figures") or {}):
            fail(f"experiments: {name}", "is named by a ray experiment and also declared under tables/figures")


def hpo_targets(
    bayesopt: dict[str, Any], ray: dict[str, Any], tables: dict[str, Any], figures: dict[str, Any]
) -> list[str]:
    """Every file the enabled black-box experiments produce (inputs of `rule all`)."""
    suffixes = (".parquet", "_final.csv")
    targets = [f"results/scalars/{name}{suffix}" for name in list(bayesopt) + list(ray) for suffix in suffixes]
    targets += [f"results/tables/{name}.{ext}" for name in tables for ext in ("tex", "csv")]
    targets += [f"results/figures/{name}.{ext}" for name in figures for ext in ("pdf", "csv")]
    return targets

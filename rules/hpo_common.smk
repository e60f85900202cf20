# rules/hpo_common.smk: config checks and plan of the black-box HPO baselines (rules/hpo.smk includes it).
#
# Kept apart from the rules so that `snakemake --lint` sees no mixed rules and functions. Evaluated
# once at parse time: every input function below is a dict look-up. Errors name the config key path
# (ConfigError from rules/common.smk).
import re as _hpo_re

HPO_BAYESOPT_KEYS = {
    "kind", "enabled", "description", "dataset", "repetitions", "random_trials", "guided_trials",
    "overrides", "penalty", "kappa", "bounds",
}
HPO_RAY_KEYS = {
    "kind", "enabled", "description", "dataset", "scheduler", "schedulers", "algorithms", "num_samples",
    "max_steps", "perturbation_interval", "grace_period", "reduction_factor", "cpus", "seed", "overrides",
    "table", "figure",
}
HPO_SCHEDULERS = ("ASHA", "PBT")
HPO_RAY_ALGORITHMS = ("Random", "Ours_LR_Momentum")
HPO_PAPER_SAMPLES = {"ASHA": 114286, "PBT": 200}


def _hpo_positive_int(value, path, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        _fail(path, f"must be a {'non-negative' if allow_zero else 'positive'} integer, got {value!r}")
    return value


def _hpo_common(name, entry, allowed):
    base = f"experiments.{name}"
    unknown = sorted(set(entry) - allowed)
    if unknown:
        _fail(f"{base}.{unknown[0]}", f"unknown key for kind {entry['kind']}; allowed: {', '.join(sorted(allowed))}")
    if "dataset" not in entry:
        _fail(f"{base}.dataset", "missing")
    if entry["dataset"] not in CATALOG:
        _fail(f"{base}.dataset", f"unknown dataset '{entry['dataset']}'; known: {', '.join(CATALOG)}")
    if not isinstance(entry.get("overrides") or {}, dict):
        _fail(f"{base}.overrides", "must be a mapping of training settings")
    return base


def hpo_bayesopt_plan(cfg):
    """{experiment: settings} of the enabled `kind: bayesopt` experiments, checked (key paths in errors)."""
    plan = {}
    for name, entry in (cfg.get("experiments") or {}).items():
        if not isinstance(entry, dict) or entry.get("kind") != "bayesopt":
            continue
        base = _hpo_common(name, entry, HPO_BAYESOPT_KEYS)
        if "repetitions" not in entry:
            _fail(f"{base}.repetitions", "missing (number of BayesOpt repetitions)")
        reps = _hpo_positive_int(entry["repetitions"], f"{base}.repetitions")
        n_random = _hpo_positive_int(entry.get("random_trials", 5), f"{base}.random_trials", allow_zero=True)
        n_guided = _hpo_positive_int(entry.get("guided_trials", 25), f"{base}.guided_trials", allow_zero=True)
        if n_random + n_guided < 1:
            _fail(f"{base}.random_trials", "random_trials + guided_trials must be at least 1")
        penalty = entry.get("penalty")
        if penalty is not None and (isinstance(penalty, bool) or not isinstance(penalty, (int, float))):
            _fail(f"{base}.penalty", f"must be a number, got {penalty!r}")
        if penalty is None and entry["dataset"] not in ("uci_energy", "uci_kin8nm", "uci_power", "fashion_mnist"):
            _fail(f"{base}.penalty", f"no default penalty for dataset '{entry['dataset']}'; set one")
        bounds = entry.get("bounds") or {}
        if not isinstance(bounds, dict):
            _fail(f"{base}.bounds", "must be a mapping like {lr_log10: [-6, -1]}")
        for key, value in bounds.items():
            if key not in ("lr_log10", "weight_decay_log10", "momentum"):
                _fail(f"{base}.bounds.{key}", "unknown; allowed: lr_log10, weight_decay_log10, momentum")
            if not (isinstance(value, list) and len(value) == 2 and value[0] < value[1]):
                _fail(f"{base}.bounds.{key}", f"must be [low, high] with low < high, got {value!r}")
        if not entry.get("enabled", True):
            continue
        catalog = CATALOG[entry["dataset"]]
        overrides = flatten_overrides(entry.get("overrides"))
        steps = overrides.get("network_weight_steps", catalog["network_weight_steps"]) * overrides.get(
            "hyperparameter_steps", catalog["hyperparameter_steps"]
        )
        scale = steps / (catalog["network_weight_steps"] * catalog["hyperparameter_steps"])
        per_trial = per_algorithm(catalog["runtime_per_seed"], "Random_Validation", f"catalog.{entry['dataset']}")
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
        plan[name] = {
            "dataset": entry["dataset"],
            "reps": [f"rep{r:0{width}d}" for r in range(reps)],
            "arguments": " ".join(words),
            "threads": int(catalog["threads"]),
            "gpu": 1 if catalog["gpu"] else 0,
            "mem_mb": int(per_algorithm(catalog["mem_mb"], "Random_Validation", f"catalog.{entry['dataset']}.mem_mb")),
            "runtime": int(math.ceil(catalog["runtime_overhead"] + per_trial * (n_random + n_guided) * scale * 1.2)),
        }
    return plan


def hpo_ray_plan(cfg):
    """{experiment: settings} of the enabled `kind: ray` experiments, checked (key paths in errors)."""
    plan = {}
    for name, entry in (cfg.get("experiments") or {}).items():
        if not isinstance(entry, dict) or entry.get("kind") != "ray":
            continue
        base = _hpo_common(name, entry, HPO_RAY_KEYS)
        if "scheduler" in entry and "schedulers" in entry:
            _fail(f"{base}.schedulers", "give either 'scheduler' or 'schedulers', not both")
        schedulers = entry.get("schedulers", [entry["scheduler"]] if "scheduler" in entry else None)
        if not isinstance(schedulers, list) or not schedulers:
            _fail(f"{base}.scheduler", "missing: ASHA or PBT (or schedulers: [ASHA, PBT])")
        schedulers = [str(s).upper() for s in schedulers]
        for index, scheduler in enumerate(schedulers):
            if scheduler not in HPO_SCHEDULERS:
                _fail(f"{base}.schedulers[{index}]", f"unknown scheduler '{scheduler}'; allowed: ASHA, PBT")
        algorithms = entry.get("algorithms", list(HPO_RAY_ALGORITHMS))
        if not isinstance(algorithms, list) or not algorithms:
            _fail(f"{base}.algorithms", "must be a non-empty list")
        for index, algorithm in enumerate(algorithms):
            if algorithm not in HPO_RAY_ALGORITHMS:
                _fail(f"{base}.algorithms[{index}]", f"'{algorithm}' not allowed; allowed: Random, Ours_LR_Momentum")
        samples = entry.get("num_samples", {})
        searches = {}
        for scheduler in schedulers:
            count = samples.get(scheduler, HPO_PAPER_SAMPLES[scheduler]) if isinstance(samples, dict) else samples
            _hpo_positive_int(count, f"{base}.num_samples")
            for algorithm in algorithms:
                searches[f"{scheduler}_{algorithm}"] = {"scheduler": scheduler, "algorithm": algorithm, "n": count}
        max_steps = _hpo_positive_int(entry.get("max_steps", 4000), f"{base}.max_steps")
        interval = _hpo_positive_int(entry.get("perturbation_interval", 100), f"{base}.perturbation_interval")
        cpus = _hpo_positive_int(entry.get("cpus", 8), f"{base}.cpus")
        table = entry.get("table")
        if table is not None and not isinstance(table, (str, dict)):
            _fail(f"{base}.table", "must be a table name or {name: ..., <AverageResults options>}")
        if isinstance(table, dict) and "name" not in table:
            _fail(f"{base}.table.name", "missing")
        figure = entry.get("figure")
        if figure is not None and not isinstance(figure, str):
            _fail(f"{base}.figure", "must be a figure name, e.g. HPOCurves_Ray")
        if not entry.get("enabled", True):
            continue
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
            common.append(f"--grace-period {_hpo_positive_int(entry['grace_period'], f'{base}.grace_period')}")
        overrides = flatten_overrides(entry.get("overrides"))
        if overrides:
            common.append(set_arguments(overrides))
        per_trial = per_algorithm(CATALOG[entry["dataset"]]["runtime_per_seed"], "Ours_LR_Momentum", base)
        for search in searches.values():
            minutes = per_trial * search["n"] * max_steps / 4000 / cpus
            search["runtime"] = int(math.ceil(30 + minutes * 2))
        plan[name] = {
            "dataset": entry["dataset"],
            "searches": searches,
            "arguments": " ".join(common),
            "cpus": cpus,
            "table": table if isinstance(table, dict) else ({"name": table} if table else None),
            "figure": figure,
        }
    return plan


HPO_BAYESOPT = hpo_bayesopt_plan(config)
HPO_RAY = hpo_ray_plan(config)


def hpo_ray_tables():
    """{table name: AverageResults options} of the enabled Ray experiments."""
    tables = {}
    for name, plan in HPO_RAY.items():
        if plan["table"]:
            options = {k: v for k, v in plan["table"].items() if k != "name"}
            options.setdefault("experiments", [name])
            options.setdefault("algorithms", list(plan["searches"]))
            options.setdefault("three_batched", False)
            options.setdefault("bold", False)
            options.setdefault("kind", "AverageResults")
            tables[plan["table"]["name"]] = options
    return tables


def hpo_ray_figures():
    """{figure name: [ray experiments]} of the enabled Ray experiments."""
    figures = {}
    for name, plan in HPO_RAY.items():
        if plan["figure"]:
            figures.setdefault(plan["figure"], []).append(name)
    return figures


HPO_RAY_TABLES = hpo_ray_tables()
HPO_RAY_FIGURES = hpo_ray_figures()
for _name in list(HPO_RAY_TABLES) + list(HPO_RAY_FIGURES):
    if _name in (config.get("tables") or {}) or _name in (config.get("figures") or {}):
        _fail(f"experiments: {_name}", "is named by a ray experiment and also declared under tables/figures")

HPO_TARGETS = [
    f"results/scalars/{name}{suffix}"
    for name in list(HPO_BAYESOPT) + list(HPO_RAY)
    for suffix in (".parquet", "_final.csv")
]
HPO_TARGETS += [f"results/tables/{name}.{ext}" for name in HPO_RAY_TABLES for ext in ("tex", "csv")]
HPO_TARGETS += [f"results/figures/{name}.{ext}" for name in HPO_RAY_FIGURES for ext in ("pdf", "csv")]


def _hpo_alternation(names):
    return "|".join(_hpo_re.escape(n) for n in names) if names else "(?!x)x"


def _hpo_data(dataset):
    return {"data": f"resources/data/{dataset}/data.pt", "targets": f"resources/data/{dataset}/targets.pt"}


def _bayesopt_job(wildcards):
    plan = HPO_BAYESOPT.get(wildcards.experiment)
    if plan is None or wildcards.rep not in plan["reps"]:
        raise ValueError(f"results/runs/{wildcards.experiment}/BayesOpt/{wildcards.rep} is not a configured repetition")
    return plan


def _ray_job(wildcards):
    plan = HPO_RAY.get(wildcards.experiment)
    if plan is None or wildcards.search not in plan["searches"]:
        raise ValueError(f"results/ray/{wildcards.experiment}/{wildcards.search} is not a configured Ray search")
    return plan, plan["searches"][wildcards.search]

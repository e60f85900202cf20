# rules/common.smk: config checks and the experiment plan shared by every rule file.
#
# Everything here runs once, when Snakemake parses the workflow. The whole paper (config/paper.yaml)
# expands to about 1,500 jobs, so the plan is computed eagerly into plain dicts and the rules'
# input functions are single dict look-ups: a dry run of the paper must stay within seconds.
import json
import math
import re
import shlex
import sys
from pathlib import Path

import yaml

# Exact names from docs/CONTRACTS.md, in canonical order (the order figures and tables use).
ALGORITHMS = [
    "Random",
    "Random_SteppedLR",
    "Random_Validation",
    "Lorraine",
    "Baydin",
    "Ours_LR",
    "Ours_LR_Momentum",
    "Ours_HDLR_Momentum",
    "DiffThroughOpt",
    "LongDiffThroughOpt_UCI_Standalone",
    "LongDiffThroughOpt_UCI_Full",
    "LongDiffThroughOpt_FashionMNIST_Standalone",
    "LongDiffThroughOpt_FashionMNIST_Medium",
]

# Short names used when a grid cell becomes a sub-experiment name (Sensitivity_T3_i5).
GRID_SHORT_NAMES = {
    "network_weight_steps": "T",
    "lookback": "i",
    "hyperparameter_steps": "H",
    "validation_proportion": "vp",
}

# Experiments of other kinds are run by dedicated rules (analysis, BayesOpt, Ray Tune): the
# training expansion below skips them.
TRAIN_KIND = "train"


def default_python():
    """The interpreter of the environment running Snakemake, named stably.

    `<prefix>/bin/python` rather than sys.executable: `.venv/bin/snakemake` runs `.venv/bin/python3`
    and `python -m snakemake` runs `.venv/bin/python`; as a rule parameter, the two spellings would
    make Snakemake rerun every finished job after switching entry points.
    """
    candidate = Path(sys.prefix) / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


PYTHON = config.get("python") or default_python()


class ConfigError(ValueError):
    """A config mistake, reported with the key path so the user can find it before any job runs."""


def _fail(path, message):
    raise ConfigError(f"config: {path}: {message}")


def workflow_path(path):
    """A config path as given if it exists from the working directory, else beside the Snakefile.

    Lets `snakemake -s <repo>/Snakefile --directory <elsewhere>` (as the tests do) find the
    catalog shipped in the repository without a --config override.
    """
    candidate = Path(path)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    return Path(workflow.basedir) / candidate


def load_catalog(path):
    """Read the dataset catalog (config/datasets.yaml): `datasets` entries merged over `defaults`."""
    catalog_path = workflow_path(path)
    if not catalog_path.is_file():
        _fail("catalog", f"catalog file '{path}' does not exist")
    with catalog_path.open() as handle:
        raw = yaml.safe_load(handle) or {}
    if not isinstance(raw.get("datasets"), dict) or not raw["datasets"]:
        _fail("catalog", f"'{path}' has no 'datasets' mapping")
    defaults = raw.get("defaults") or {}
    return {name: {**defaults, **(entry or {})} for name, entry in raw["datasets"].items()}


def per_algorithm(value, algorithm, path):
    """Resolve a setting given either as one value or as {default: x, <Algorithm>: y}."""
    if isinstance(value, dict):
        if algorithm in value:
            return value[algorithm]
        if "default" in value:
            return value["default"]
        _fail(path, f"no entry for '{algorithm}' and no 'default'")
    return value


def flatten_overrides(overrides, prefix=""):
    """Turn nested override mappings into the CLI's dotted `--set` keys.

    `{init: {momentum: 0.6}}` and `{"init.momentum": 0.6}` mean the same thing; an empty mapping
    is kept as a value (it can mean "no clipping").
    """
    flat = {}
    for key, value in (overrides or {}).items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_overrides(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def set_arguments(overrides):
    """Render overrides as one shell-quoted `--set key=value ...` group (JSON is valid YAML).

    One `--set` followed by every pair: with the CLI's `nargs="*"`, a repeated `--set` would
    keep only its last group.
    """
    if not overrides:
        return ""
    pairs = " ".join(shlex.quote(f"{key}={json.dumps(value)}") for key, value in overrides.items())
    return f"--set {pairs}"


def seed_chunks(n_seeds, chunk_size):
    """Split seeds 0..n_seeds-1 into consecutive chunks, named like `seeds000-019`.

    The width grows with the largest seed, so names sort in seed order for any population.
    """
    width = max(3, len(str(n_seeds - 1)))
    chunks = {}
    for start in range(0, n_seeds, chunk_size):
        stop = min(start + chunk_size, n_seeds) - 1
        chunks[f"seeds{start:0{width}d}-{stop:0{width}d}"] = f"{start}-{stop}"
    return chunks


def grid_cells(grid):
    """All cells of a grid {key: [values]} in row-major order, as (name suffix, {key: value}).

    Keys are taken in a fixed order (T, i, H, vp, then the others alphabetically), not in the
    YAML's, so a cell's name (Sensitivity_T3_i5) does not depend on how the config was written.
    """
    known = list(GRID_SHORT_NAMES)
    ordered = sorted(grid, key=lambda key: (known.index(key) if key in known else len(known), key))
    cells = [("", {})]
    for key in ordered:
        values = grid[key]
        short = GRID_SHORT_NAMES.get(key, key.replace(".", "-"))
        cells = [
            (f"{suffix}_{short}{value}", {**cell, key: value}) for suffix, cell in cells for value in values
        ]
    return cells


def grid_expression(expression, cell, path):
    """Evaluate a `grid_where` filter ("lookback <= network_weight_steps") or a `grid_derived`
    value ("4000 // network_weight_steps") on one grid cell.

    Only the cell's values are visible (no builtins): these are arithmetic on config values.
    Dotted keys are reachable with underscores instead of dots (model_batch_norm).
    """
    names = {key.replace(".", "_"): value for key, value in cell.items()}
    try:
        return eval(compile(expression, path, "eval"), {"__builtins__": {}}, names)  # noqa: S307
    except Exception as error:  # a typo in the config: report which key holds it
        _fail(path, f"cannot evaluate {expression!r} on grid cell {cell}: {error}")


def is_training(experiment):
    """True for experiments the training expansion runs (kind train, not disabled)."""
    return experiment.get("kind", TRAIN_KIND) == TRAIN_KIND and experiment.get("enabled", True)


def check_config(cfg, catalog):
    """Semantic checks the JSON schema cannot express; each error names the offending key path.

    They run before the schema so that the common mistakes get a precise message; they only
    assume the shapes they check and leave everything else to the schema.
    """
    experiments = cfg.get("experiments")
    if not isinstance(experiments, dict):
        _fail("experiments", "missing or not a mapping of experiment name -> settings")
    for name, experiment in experiments.items():
        base = f"experiments.{name}"
        if not isinstance(experiment, dict):
            _fail(base, "must be a mapping (dataset, algorithms, seeds, ...)")
        if experiment.get("kind", TRAIN_KIND) != TRAIN_KIND:
            continue
        for key in ("dataset", "algorithms", "seeds"):
            if key not in experiment:
                _fail(f"{base}.{key}", "missing (required for training experiments)")
        dataset = experiment["dataset"]
        if dataset not in catalog:
            _fail(f"{base}.dataset", f"unknown dataset '{dataset}'; known: {', '.join(catalog)}")
        algorithms = experiment["algorithms"]
        if not isinstance(algorithms, list) or not algorithms:
            _fail(f"{base}.algorithms", "must be a non-empty list of algorithm names")
        for index, algorithm in enumerate(algorithms):
            if algorithm not in ALGORITHMS:
                _fail(
                    f"{base}.algorithms[{index}]",
                    f"unknown algorithm '{algorithm}'; allowed: {', '.join(ALGORITHMS)}",
                )
        if len(set(algorithms)) != len(algorithms):
            _fail(f"{base}.algorithms", "lists an algorithm twice")
        for key in ("seeds", "chunk_size"):
            value = experiment.get(key)
            if value is None:
                continue
            entries = value.items() if isinstance(value, dict) else [(None, value)]
            for algorithm, count in entries:
                where = f"{base}.{key}" if algorithm is None else f"{base}.{key}.{algorithm}"
                if algorithm not in (None, "default") and algorithm not in algorithms:
                    _fail(where, f"'{algorithm}' is not one of this experiment's algorithms")
                if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                    _fail(where, f"must be a positive integer, got {count!r}")
        if isinstance(experiment["seeds"], dict) and "default" not in experiment["seeds"]:
            missing = [alg for alg in algorithms if alg not in experiment["seeds"]]
            if missing:
                _fail(f"{base}.seeds", f"no seed count for {', '.join(missing)} and no 'default'")
        for key in ("overrides", "algorithm_overrides", "grid", "grid_where", "grid_derived"):
            if experiment.get(key) is not None and not isinstance(experiment[key], dict):
                _fail(f"{base}.{key}", f"must be a mapping, got {experiment[key]!r}")
        for key in ("algorithm_overrides", "grid_where"):
            for algorithm in experiment.get(key) or {}:
                if algorithm not in algorithms:
                    _fail(f"{base}.{key}.{algorithm}", "is not one of this experiment's algorithms")
        for key, values in (experiment.get("grid") or {}).items():
            if not isinstance(values, list) or not values:
                _fail(f"{base}.grid.{key}", "must be a non-empty list of values")
    known = set(experiments)
    for name in expand_names_only(experiments):
        known.add(name)
    for section in ("figures", "tables"):
        for target, spec in (cfg.get(section) or {}).items():
            listed = spec.get("experiments") if isinstance(spec, dict) else None
            for index, experiment in enumerate(listed if isinstance(listed, list) else []):
                if experiment not in known:
                    _fail(
                        f"{section}.{target}.experiments[{index}]",
                        f"unknown experiment '{experiment}'; declared: {', '.join(sorted(experiments))}",
                    )


def expand_names_only(experiments):
    """Sub-experiment names of every grid experiment (so figures may name a single cell)."""
    names = []
    for name, experiment in experiments.items():
        if isinstance(experiment.get("grid"), dict):
            names.extend(f"{name}{suffix}" for suffix, _ in grid_cells(experiment["grid"]))
    return names


def build_plan(cfg, catalog):
    """Expand training experiments into sub-experiments, algorithms and seed chunks.

    Returns (plan, names): plan[sub_experiment] = {"dataset", "parent", "cell", "algorithms":
    {algorithm: {"chunks": {chunk: "a-b"}, "sets": str, "threads", "gpu", "mem_mb",
    "runtime_overhead", "runtime_per_seed"}}};
    names[experiment] = its sub-experiment names (itself when it has no grid); a grid cell where
    `grid_where` leaves no algorithm is not a sub-experiment.
    Overrides merge in this order: experiment overrides, algorithm_overrides[algorithm], the grid
    cell's values, then `grid_derived` values computed from the cell.
    """
    plan = {}
    names = {}
    for name, experiment in (cfg.get("experiments") or {}).items():
        if not is_training(experiment):
            continue
        base = f"experiments.{name}"
        dataset = experiment["dataset"]
        entry = catalog[dataset]
        grid = experiment.get("grid") or {}
        cells = grid_cells(grid) if grid else [("", {})]
        names[name] = []
        common = flatten_overrides(experiment.get("overrides"))
        for suffix, cell in cells:
            derived = {
                key: grid_expression(expression, cell, f"{base}.grid_derived.{key}")
                for key, expression in (experiment.get("grid_derived") or {}).items()
            }
            algorithms = {}
            for algorithm in experiment["algorithms"]:
                condition = (experiment.get("grid_where") or {}).get(algorithm)
                if condition and not grid_expression(condition, cell, f"{base}.grid_where.{algorithm}"):
                    continue
                overrides = {
                    **common,
                    **flatten_overrides((experiment.get("algorithm_overrides") or {}).get(algorithm)),
                    **cell,
                    **derived,
                }
                n_seeds = per_algorithm(experiment["seeds"], algorithm, f"{base}.seeds")
                chunk_size = per_algorithm(
                    experiment.get("chunk_size", entry["chunk_size"]), algorithm, f"{base}.chunk_size"
                )
                steps = overrides.get("network_weight_steps", entry["network_weight_steps"]) * overrides.get(
                    "hyperparameter_steps", entry["hyperparameter_steps"]
                )
                scale = steps / (entry["network_weight_steps"] * entry["hyperparameter_steps"])
                per_seed = per_algorithm(entry["runtime_per_seed"], algorithm, f"catalog.{dataset}")
                algorithms[algorithm] = {
                    "chunks": seed_chunks(n_seeds, chunk_size),
                    "sets": set_arguments(overrides),
                    "threads": int(entry["threads"]),
                    "gpu": 1 if entry["gpu"] else 0,
                    "mem_mb": int(per_algorithm(entry["mem_mb"], algorithm, f"catalog.{dataset}.mem_mb")),
                    # minutes: overhead + per seed x seeds of the chunk (train_resource)
                    "runtime_overhead": entry["runtime_overhead"],
                    "runtime_per_seed": per_seed * scale,
                }
            if not algorithms:  # every algorithm filtered out by grid_where: no such cell
                continue
            names[name].append(f"{name}{suffix}")
            plan[f"{name}{suffix}"] = {"dataset": dataset, "parent": name, "cell": cell, "algorithms": algorithms}
    return plan, names


def schema_error_message(error):
    """Turn Snakemake's wrapped jsonschema error into `config: <key path>: <message>`."""
    # snakemake.utils.validate raises WorkflowError while handling jsonschema's ValidationError,
    # which stays reachable as the implicit exception context.
    cause = error.__cause__ or error.__context__
    if not hasattr(cause, "absolute_path"):
        return f"config: {error}"
    path = ""
    for part in cause.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return f"config: {path or '<top level>'}: {cause.message}"


# ---- helpers for the rule files (figures.smk and tables.smk use the first four) ------------------


def experiment_names(experiment):
    """Sub-experiments of a grid experiment (Sensitivity -> Sensitivity_T1_i1, ...), else [experiment]."""
    return EXPERIMENT_NAMES.get(experiment, [experiment])


def experiment_cell(sub_experiment):
    """The grid values of a sub-experiment ({} for a plain experiment), e.g. for heatmap axes."""
    return PLAN[sub_experiment]["cell"] if sub_experiment in PLAN else {}


def scalars_files(experiment):
    """Aggregated long tables of an experiment (one per grid cell)."""
    return [f"results/scalars/{name}.parquet" for name in experiment_names(experiment)]


def final_files(experiment):
    """Per-run final CSVs of an experiment (one per grid cell)."""
    return [f"results/scalars/{name}_final.csv" for name in experiment_names(experiment)]


def chunk_outputs(sub_experiment):
    """Every training output (parquet and json) of one sub-experiment, in canonical order."""
    files = []
    for algorithm, job in PLAN[sub_experiment]["algorithms"].items():
        for chunk in job["chunks"]:
            stem = f"results/runs/{sub_experiment}/{algorithm}/{chunk}"
            files += [f"{stem}.parquet", f"{stem}.json"]
    return files


def train_job(wildcards):
    """The plan entry of one training job (raises a clear error for a path outside the plan)."""
    try:
        job = PLAN[wildcards.experiment]["algorithms"][wildcards.algorithm]
        seeds = job["chunks"][wildcards.chunk]
    except KeyError:
        raise ValueError(
            f"results/runs/{wildcards.experiment}/{wildcards.algorithm}/{wildcards.chunk} "
            "is not part of the configured experiments"
        ) from None
    return job, seeds


# ---- input functions and parameters of rules/train.smk and rules/aggregate.smk ----------------


def train_inputs(wildcards):
    """The preprocessed tensors of the job's dataset (produced by rules/data.smk)."""
    dataset = PLAN[wildcards.experiment]["dataset"] if wildcards.experiment in PLAN else "unknown"
    return {
        "data": f"resources/data/{dataset}/data.pt",
        "targets": f"resources/data/{dataset}/targets.pt",
    }


def train_arguments(wildcards):
    """Seeds, dataset, device, TensorBoard folder and `--set` overrides of one job, shell-ready."""
    job, seeds = train_job(wildcards)
    words = [
        f"--dataset-config {PLAN[wildcards.experiment]['dataset']}",
        f"--seeds {seeds}",
        f"--device {config['device']}",
        f"--experiment {wildcards.experiment}",
    ]
    if config["tensorboard"]:
        words.append(f"--tensorboard-dir results/tensorboard/{wildcards.experiment}/{wildcards.algorithm}")
    if job["sets"]:
        words.append(job["sets"])
    return " ".join(words)


def chunk_runtime(job, seeds):
    """Minutes one chunk may take: overhead + per-seed minutes x the seeds of *this* chunk."""
    first, last = (int(part) for part in seeds.split("-"))
    return int(math.ceil(job["runtime_overhead"] + job["runtime_per_seed"] * (last - first + 1)))


def train_resource(name):
    """A resource callable reading the planned value (gpu, mem_mb or runtime) of the job."""

    def resource(wildcards, attempt):
        job, seeds = train_job(wildcards)
        value = chunk_runtime(job, seeds) if name == "runtime" else job[name]
        # a retried job (`--retries`) gets proportionally more time and memory
        return value * attempt if name in ("mem_mb", "runtime") else value

    return resource


def alternation(names):
    """A regex matching exactly these names (or nothing), for wildcard constraints."""
    return "|".join(re.escape(name) for name in names) if names else "(?!x)x"


def aggregate_inputs(wildcards):
    """Every chunk parquet and JSON of the sub-experiment (a dict look-up in the plan)."""
    if wildcards.experiment not in PLAN:
        raise ValueError(
            f"results/scalars/{wildcards.experiment}.parquet: '{wildcards.experiment}' is not a "
            f"training experiment of this config (known: {', '.join(PLAN) or 'none'})"
        )
    return chunk_outputs(wildcards.experiment)

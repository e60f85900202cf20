# rules/figures.smk: every configured figure is its own target results/figures/<Name>.pdf,
# with the statistics it plots in results/figures/<Name>.csv (issue 5).
#
# config `figures:` entries: <Name>: {kind: <Kind>, experiments: [...], <options>}; the option
# keys per kind are documented in workflow/schemas/figures.schema.yaml.  Figures read only the
# aggregated scalars (results/scalars/<exp>.parquet and <exp>_final.csv); the hypergradient
# comparison is computed by its own rule below.
import re as _fig_re

from snakemake.exceptions import WorkflowError as _AnalysisWorkflowError
from snakemake.utils import validate as _analysis_validate

from onepass.analysis.captions import figure_caption as _figure_caption

# The `figures:`/`tables:` entries are checked here (kinds and per-kind options) so that a typo
# fails when the workflow is parsed, naming the entry, not when the figure is finally drawn.
try:
    _analysis_validate(
        {"figures": config.get("figures") or {}, "tables": config.get("tables") or {}},
        "../workflow/schemas/figures.schema.yaml",
        set_default=False,
    )
except _AnalysisWorkflowError as _error:
    _message = globals().get("schema_error_message")
    raise ValueError(_message(_error) if callable(_message) else f"config figures/tables: {_error}") from None

# Kinds reading the per-run final CSVs / the per-step parquet (kept in sync with
# onepass.analysis.figures.NEEDS_FINAL / NEEDS_SCALARS; not imported to keep parsing light).
_FIG_NEEDS_FINAL = {"CDF", "CDF_Error", "Envelope", "HPOCurves", "Runtime", "LR", "Sensitivity", "ProofOfConcept"}
_FIG_NEEDS_SCALARS = {"Envelope", "HPOCurves", "LR", "ProofOfConcept"}


def _analysis_sub_experiments(experiment):
    """Grid experiments expand to their cells (common.smk's experiment_names when present)."""
    names = globals().get("experiment_names")
    return list(names(experiment)) if callable(names) else [experiment]


def _analysis_name_pattern(section):
    names = list((config.get(section) or {}).keys())
    return "|".join(_fig_re.escape(n) for n in names) if names else "(?!x)x"


def _figure_spec(name):
    spec = (config.get("figures") or {}).get(name)
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ValueError(f"config figures.{name}: missing, or without 'kind'")
    return spec


def _figure_experiments(name):
    return [sub for e in _figure_spec(name).get("experiments") or [] for sub in _analysis_sub_experiments(e)]


def _bayesopt_available(experiment):
    """A BayesOpt experiment joins once its aggregate exists or some rule can make it.

    The rule `aggregate` matches any name but only builds planned training experiments, so it
    does not count; the BayesOpt rules (issue 7) will.
    """
    import os

    entry = (config.get("experiments") or {}).get(experiment)
    if not isinstance(entry, dict) or not entry.get("enabled", True):
        return False
    path = f"results/scalars/{experiment}.parquet"
    if os.path.exists(path) or experiment in (globals().get("PLAN") or {}):
        return True
    return any(r.name != "aggregate" and r.is_producer(path) for r in workflow.rules)


def _bayesopt_experiments(name):
    """BayesOpt experiments of an HPOCurves figure that are available (absent ones are skipped)."""
    spec = _figure_spec(name)
    wanted = spec.get("bayesopt")
    if wanted is None:  # default: BayesOpt_<exp> for each listed experiment
        wanted = [f"BayesOpt_{e}" for e in spec.get("experiments") or []]
    return [e for e in wanted if _bayesopt_available(e)]


def _hypergradient_table(name):
    spec = _figure_spec(name)
    return spec.get("comparison") or (spec.get("experiments") or ["HypergradientComparison"])[0]


def figure_inputs(wildcards):
    """Named inputs of one figure, by kind (see onepass.analysis.figures.build_figure)."""
    spec = _figure_spec(wildcards.name)
    kind = spec["kind"]
    exps = _figure_experiments(wildcards.name)
    inputs = {}
    if kind in _FIG_NEEDS_FINAL:
        inputs["final"] = [f"results/scalars/{e}_final.csv" for e in exps]
    if kind in _FIG_NEEDS_SCALARS:
        inputs["scalars"] = [f"results/scalars/{e}.parquet" for e in exps]
    if kind == "HPOCurves":
        inputs["bayesopt_scalars"] = [f"results/scalars/{e}.parquet" for e in _bayesopt_experiments(wildcards.name)]
    if kind == "Hypergradients":
        inputs["hypergradients"] = [f"results/hypergradients/{_hypergradient_table(wildcards.name)}.csv"]
    return inputs


def _figure_cells(wildcards):
    """(T, i) per grid cell for Sensitivity heatmaps, from the pipeline plan when available."""
    cell_of = globals().get("experiment_cell")
    if not callable(cell_of):
        return None
    cells = {}
    for e in _figure_experiments(wildcards.name):
        c = cell_of(e) or {}
        if "network_weight_steps" in c and "lookback" in c:
            cells[e] = [int(c["network_weight_steps"]), int(c["lookback"])]
        else:
            cells[e] = None
    return cells


def _figure_divergence_label(wildcards, output):
    """Report label "k of N" diverged runs, read from the sidecar once the figure exists."""
    import csv

    try:
        with open(output.csv) as handle:
            rows = list(csv.DictReader(handle))
        per_alg = {}
        for row in rows:
            if "n_diverged" in row and "n_runs" in row and row.get("role", "cell") in ("cell", ""):
                per_alg[(row.get("algorithm"), row.get("experiment"))] = (row["n_diverged"], row["n_runs"])
        div = sum(int(float(a)) for a, _ in per_alg.values())
        tot = sum(int(float(b)) for _, b in per_alg.values())
        diverged = f"{div} of {tot}" if per_alg else "n/a"
    except (OSError, ValueError):
        diverged = "n/a"
    return {"figure": wildcards.name, "kind": _figure_spec(wildcards.name)["kind"], "diverged runs": diverged}


localrules:
    figure,


rule figure:
    """One configured figure: PDF plus a CSV sidecar of every plotted statistic."""
    input:
        unpack(figure_inputs),
    output:
        pdf=report(
            "results/figures/{name}.pdf",
            caption="../workflow/report/figure.rst",
            category="Figures",
            subcategory=lambda wildcards: _figure_spec(wildcards.name)["kind"],
            labels=_figure_divergence_label,
        ),
        csv="results/figures/{name}.csv",
    params:
        kind=lambda wildcards: _figure_spec(wildcards.name)["kind"],
        options=lambda wildcards: _figure_spec(wildcards.name),
        experiments_config=lambda wildcards: config.get("experiments") or {},
        cells=_figure_cells,
        caption=lambda wildcards: _figure_caption(wildcards.name, _figure_spec(wildcards.name),
                                                  config.get("experiments") or {}),
    wildcard_constraints:
        name=_analysis_name_pattern("figures"),
    log:
        "logs/figures/{name}.log",
    script:
        "../workflow/scripts/figure.py"


def _hypergradient_settings(wildcards):
    """comparison_table arguments: the experiment's config entry, overridden by figure options.

    Entry keys (config/paper.yaml `HypergradientComparison`): dataset, seeds (a count or a
    list), network_weight_steps (list of T), lookbacks (list of i; default 1..max T; only
    i <= T is computed), or the same two lists under `grid` (network_weight_steps, lookback).
    """
    entry = dict((config.get("experiments") or {}).get(wildcards.comparison) or {})
    grid = entry.get("grid") or {}
    steps = entry.get("network_weight_steps", grid.get("network_weight_steps", list(range(1, 11))))
    settings = {
        "dataset_config": entry.get("dataset", "uci_energy"),
        "network_weight_steps": list(steps),
        "lookbacks": list(entry.get("lookbacks", grid.get("lookback", range(1, max(steps) + 1)))),
        "seeds": entry.get("seeds", 50),
        "data_dir": config.get("data_dir", "resources/data"),
    }
    for spec in (config.get("figures") or {}).values():
        if isinstance(spec, dict) and spec.get("kind") == "Hypergradients":
            if (spec.get("comparison") or (spec.get("experiments") or [None])[0]) == wildcards.comparison:
                for key in ("dataset_config", "network_weight_steps", "lookbacks", "seeds"):
                    if key in spec:
                        settings[key] = spec[key]
    if isinstance(settings["seeds"], int):
        settings["seeds"] = list(range(settings["seeds"]))
    return settings


def _hypergradient_dataset(wildcards):
    return f"resources/data/{_hypergradient_settings(wildcards)['dataset_config']}/data.pt"


def _hypergradient_names():
    names = {
        spec.get("comparison") or (spec.get("experiments") or ["HypergradientComparison"])[0]
        for spec in (config.get("figures") or {}).values()
        if isinstance(spec, dict) and spec.get("kind") == "Hypergradients"
    }
    return "|".join(_fig_re.escape(n) for n in sorted(names)) if names else "(?!x)x"


rule hypergradient_comparison:
    """Neumann vs exact hypergradients of the first hyperparameter step over (T, i) and seeds."""
    input:
        _hypergradient_dataset,
    output:
        "results/hypergradients/{comparison}.csv",
    params:
        settings=_hypergradient_settings,
    wildcard_constraints:
        comparison=_hypergradient_names(),
    log:
        "logs/hypergradients/{comparison}.log",
    script:
        "../workflow/scripts/hypergradient_comparison.py"

# rules/tables.smk: every configured table is its own target results/tables/<Name>.{tex,csv}
# (issue 5).  config `tables:` entries: <Name>: {kind: AverageResults|AverageErrors,
# experiments: [...], <options>}; option keys in workflow/schemas/figures.schema.yaml.
import re as _tab_re

from onepass.analysis.captions import table_caption as _table_caption


def _table_name_pattern():
    names = list((config.get("tables") or {}).keys())
    return "|".join(_tab_re.escape(n) for n in names) if names else "(?!x)x"


def _table_spec(name):
    spec = (config.get("tables") or {}).get(name)
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ValueError(f"config tables.{name}: missing, or without 'kind'")
    return spec


def _table_skipped(name):
    """Declared black-box experiments (kind other than train) whose results cannot be made yet.

    They are left out of the table (and named in its note) until a rule produces their
    aggregate, so that planning the whole paper never fails on a baseline still to come.
    """
    import os

    declared = config.get("experiments") or {}
    skipped = []
    for e in _table_spec(name).get("experiments") or []:
        entry = declared.get(e)
        if not isinstance(entry, dict) or entry.get("kind", "train") == "train":
            continue
        path = f"results/scalars/{e}_final.csv"
        if not entry.get("enabled", True) or not (
            os.path.exists(path) or any(r.name != "aggregate" and r.is_producer(path) for r in workflow.rules)
        ):
            skipped.append(e)
    return skipped


def _table_experiments(name):
    names = globals().get("experiment_names")
    skipped = set(_table_skipped(name))
    out = []
    for e in _table_spec(name).get("experiments") or []:
        if e not in skipped:
            out += list(names(e)) if callable(names) else [e]
    return out


def table_inputs(wildcards):
    spec = _table_spec(wildcards.name)
    exps = _table_experiments(wildcards.name)
    inputs = {"final": [f"results/scalars/{e}_final.csv" for e in exps]}
    metrics = list(spec.get("metrics") or []) + [spec.get("metric")]
    if spec["kind"] == "AverageErrors" or "Error/Test" in metrics:  # best error: 1 - max accuracy over steps
        inputs["scalars"] = [f"results/scalars/{e}.parquet" for e in exps]
    return inputs


def _table_divergence_label(wildcards, output):
    import csv

    try:
        with open(output.csv) as handle:
            rows = list(csv.DictReader(handle))
        div = sum(int(float(r["n_diverged"])) for r in rows)
        tot = sum(int(float(r["n_runs"])) for r in rows)
        diverged = f"{div} of {tot}"
    except (OSError, ValueError, KeyError):
        diverged = "n/a"
    return {"table": wildcards.name, "kind": _table_spec(wildcards.name)["kind"], "diverged runs": diverged}


localrules:
    table,


rule table:
    """One configured table: LaTeX (booktabs) plus the CSV of every statistic in it."""
    input:
        unpack(table_inputs),
    output:
        tex=report(
            "results/tables/{name}.tex",
            caption="../workflow/report/table.rst",
            category="Tables",
            labels=_table_divergence_label,
        ),
        csv=report(
            "results/tables/{name}.csv",
            caption="../workflow/report/table.rst",
            category="Tables",
            subcategory="CSV",
            labels=lambda wildcards: {"table": wildcards.name, "kind": _table_spec(wildcards.name)["kind"],
                                      "diverged runs": "see .tex note"},
        ),
    params:
        kind=lambda wildcards: _table_spec(wildcards.name)["kind"],
        options=lambda wildcards: _table_spec(wildcards.name),
        experiments_config=lambda wildcards: config.get("experiments") or {},
        skip=lambda wildcards: _table_skipped(wildcards.name),
        caption=lambda wildcards: _table_caption(wildcards.name, _table_spec(wildcards.name),
                                                 config.get("experiments") or {}),
    wildcard_constraints:
        name=_table_name_pattern(),
    log:
        "logs/tables/{name}.log",
    script:
        "../workflow/scripts/table.py"

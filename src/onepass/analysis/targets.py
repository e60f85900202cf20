"""Input wiring of the figure/table rules (rules/figures.smk, rules/tables.smk).

Standard library only and free of Snakemake imports: the rule files build one
:class:`Planner` from the config and the pipeline's planning helpers and call it from lambdas,
which keeps the rule files lint-clean and lets this logic be unit tested.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..patterns import alternation
from .figures.registry import FIGURE_KINDS
from .tables.registry import TABLE_KINDS


def scalars_path(experiment: str, final: bool = False) -> str:
    return f"results/scalars/{experiment}{'_final.csv' if final else '.parquet'}"


class Planner:
    """Resolves configured figure/table names into input files and script parameters.

    ``experiment_names`` expands a grid experiment into its cells (rules/common.smk);
    ``experiment_cell`` gives a cell's grid values; ``planned(experiment)`` says whether a job of
    this config makes the experiment's aggregated scalars (a training, BayesOpt or Ray experiment:
    onepass.pipeline.aggregation). All are optional.

    Everything here is decided from the config alone, never from the files on disk, so a dry run
    plans the same jobs whatever a previous run left behind.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        experiment_names: Callable[[str], Sequence[str]] | None = None,
        experiment_cell: Callable[[str], Mapping[str, Any]] | None = None,
        planned: Callable[[str], bool] | None = None,
    ) -> None:
        self.config = config
        self.experiment_names = experiment_names
        self.experiment_cell = experiment_cell
        self.planned = planned or (lambda experiment: False)

    # ------------------------------------------------------------------------------ common
    @property
    def experiments(self) -> Mapping[str, Any]:
        return self.config.get("experiments") or {}

    def name_pattern(self, section: str) -> str:
        """Regex of the configured target names of ``figures`` or ``tables`` (wildcard constraint)."""
        return alternation(self.config.get(section) or {})

    def spec(self, section: str, name: str) -> Mapping[str, Any]:
        spec = (self.config.get(section) or {}).get(name)
        if not isinstance(spec, Mapping) or "kind" not in spec:
            raise ValueError(f"config {section}.{name}: missing, or without 'kind'")
        return spec

    def experiments_config_of(self, section: str, name: str) -> dict[str, Any]:
        """The ``experiments`` entries one figure or table reads (it names them, or a cell of them).

        Passed to the job as a param instead of the whole section: Snakemake reruns a job whose
        params change, so editing or adding an unrelated experiment must not touch this target.
        """
        spec = self.spec(section, name)
        named: set[str] = set()
        for key in ("experiments", "bayesopt"):
            named.update(str(e) for e in spec.get(key) or [])
        for parent, merged in (spec.get("merge") or {}).items():
            named.add(str(parent))
            named.update(str(e) for e in merged or [])
        if section == "figures" and spec.get("bayesopt") is None:
            named.update(self.bayesopt_experiments(name))
        return {
            key: entry
            for key, entry in self.experiments.items()
            if any(e == key or e.startswith(f"{key}_") for e in named)
        }

    def expand(self, experiments: Sequence[str]) -> list[str]:
        """Grid experiments become their cells; plain ones stay."""
        out: list[str] = []
        for e in experiments:
            out += list(self.experiment_names(e)) if self.experiment_names else [e]
        return out

    def available(self, experiment: str) -> bool:
        """Whether an experiment's aggregated scalars are made by this config's jobs (enabled and planned).

        A declared BayesOpt or Ray experiment that is disabled is not, even if an earlier run left
        its files on disk: a figure or table reads only what its own config makes.
        """
        entry = self.experiments.get(experiment)
        if not isinstance(entry, Mapping) or not entry.get("enabled", True):
            return False
        return self.planned(experiment)

    # ----------------------------------------------------------------------------- figures
    def figure_spec(self, name: str) -> Mapping[str, Any]:
        return self.spec("figures", name)

    def figure_experiments(self, name: str) -> list[str]:
        return self.expand(list(self.figure_spec(name).get("experiments") or []))

    def bayesopt_experiments(self, name: str) -> list[str]:
        """BayesOpt experiments of an HPOCurves figure that are available (default BayesOpt_<exp>)."""
        spec = self.figure_spec(name)
        wanted = spec.get("bayesopt")
        if wanted is None:
            wanted = [f"BayesOpt_{e}" for e in spec.get("experiments") or []]
        return [e for e in wanted if self.available(e)]

    @staticmethod
    def comparison_of(spec: Mapping[str, Any]) -> str:
        return str(spec.get("comparison") or (spec.get("experiments") or ["HypergradientComparison"])[0])

    def figure_inputs(self, name: str) -> dict[str, list[str]]:
        """Named inputs of one figure: those its kind reads (figures.registry), as file lists."""
        spec = self.figure_spec(name)
        kind = FIGURE_KINDS.get(spec["kind"])  # an unknown kind reads nothing; build_figure names it
        exps = self.figure_experiments(name)
        files: dict[str, Callable[[], list[str]]] = {
            "final": lambda: [scalars_path(e, final=True) for e in exps],
            "scalars": lambda: [scalars_path(e) for e in exps],
            "bayesopt_scalars": lambda: [scalars_path(e) for e in self.bayesopt_experiments(name)],
            "hypergradients": lambda: [f"results/hypergradients/{self.comparison_of(spec)}.csv"],
        }
        return {key: files[key]() for key in (kind.inputs if kind else ())}

    def figure_cells(self, name: str) -> dict[str, list[int] | None] | None:
        """(T, i) of every grid cell of the figure's experiments (None: a non-grid experiment)."""
        if self.experiment_cell is None:
            return None
        cells: dict[str, list[int] | None] = {}
        for e in self.figure_experiments(name):
            c = self.experiment_cell(e) or {}
            ok = "update_interval" in c and "lookback" in c
            cells[e] = [int(c["update_interval"]), int(c["lookback"])] if ok else None
        return cells

    def figure_labels(self, name: str, sidecar: str) -> dict[str, str]:
        """Report labels, including "k of N" diverged runs read from the sidecar once it exists."""
        return {
            "figure": name,
            "kind": str(self.figure_spec(name)["kind"]),
            "diverged runs": divergence_summary(sidecar),
        }

    # ---------------------------------------------------------------------- hypergradients
    def hypergradient_pattern(self) -> str:
        names = {
            self.comparison_of(s)
            for s in (self.config.get("figures") or {}).values()
            if isinstance(s, Mapping) and s.get("kind") == "Hypergradients"
        }
        return alternation(sorted(names))

    def hypergradient_settings(self, comparison: str) -> dict[str, Any]:
        """comparison_table arguments from the experiment entry, overridden by figure options.

        Entry keys (config/paper.yaml ``HypergradientComparison``): dataset, seeds (a count or a
        list), update_interval (list of T), lookbacks (list of i; default 1..max T; only
        i <= T is computed), or the two lists under ``grid`` (update_interval, lookback).
        """
        entry = dict(self.experiments.get(comparison) or {})
        grid = entry.get("grid") or {}
        steps = list(entry.get("update_interval", grid.get("update_interval", range(1, 11))))
        settings: dict[str, Any] = {
            "dataset_config": entry.get("dataset", "uci_energy"),
            "update_interval": steps,
            "lookbacks": list(entry.get("lookbacks", grid.get("lookback", range(1, max(steps) + 1)))),
            "seeds": entry.get("seeds", 50),
            "data_dir": self.config.get("data_dir", "resources/data"),
        }
        for spec in (self.config.get("figures") or {}).values():
            if (
                isinstance(spec, Mapping)
                and spec.get("kind") == "Hypergradients"
                and self.comparison_of(spec) == comparison
            ):
                for key in ("dataset_config", "update_interval", "lookbacks", "seeds"):
                    if key in spec:
                        settings[key] = spec[key]
        if isinstance(settings["seeds"], int):
            settings["seeds"] = list(range(settings["seeds"]))
        return settings

    def hypergradient_data(self, comparison: str) -> str:
        settings = self.hypergradient_settings(comparison)
        return f"{settings['data_dir']}/{settings['dataset_config']}/data.pt"

    # ------------------------------------------------------------------------------ tables
    def table_spec(self, name: str) -> Mapping[str, Any]:
        return self.spec("tables", name)

    def table_skipped(self, name: str) -> list[str]:
        """Declared non-training experiments (BayesOpt, Ray) not available yet: left out, named in the note."""
        skipped = []
        for e in self.table_spec(name).get("experiments") or []:
            entry = self.experiments.get(e)
            if isinstance(entry, Mapping) and entry.get("kind", "train") != "train" and not self.available(e):
                skipped.append(e)
        return skipped

    def table_inputs(self, name: str) -> dict[str, list[str]]:
        spec = self.table_spec(name)
        skipped = set(self.table_skipped(name))
        exps = self.expand([e for e in spec.get("experiments") or [] if e not in skipped])
        inputs = {"final": [scalars_path(e, final=True) for e in exps]}
        metrics = list(spec.get("metrics") or []) + [spec.get("metric")]
        kind = TABLE_KINDS.get(spec["kind"])
        if (kind and kind.needs_scalars) or "Error/Test" in metrics:  # best error needs every step
            inputs["scalars"] = [scalars_path(e) for e in exps]
        return inputs

    def table_labels(self, name: str, csv_path: str) -> dict[str, str]:
        return {
            "table": name,
            "kind": str(self.table_spec(name)["kind"]),
            "diverged runs": divergence_summary(csv_path),
        }


def divergence_summary(csv_path: str) -> str:
    """ "k of N" from a sidecar/table CSV with ``n_runs``/``n_diverged`` columns ("n/a" if absent).

    Rows repeat per plotted point, so counts are taken once per (block, experiment, algorithm,
    role).
    """
    try:
        with open(csv_path, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError:
        return "n/a"
    seen: dict[tuple[str, ...], tuple[int, int]] = {}
    for row in rows:
        if "n_runs" not in row or "n_diverged" not in row or row.get("role") == "reference":
            continue
        key = tuple(row.get(k, "") for k in ("block", "experiment", "algorithm", "hyperparameter"))
        try:
            seen[key] = (int(float(row["n_diverged"])), int(float(row["n_runs"])))
        except ValueError:
            continue
    if not seen:
        return "n/a"
    return f"{sum(d for d, _ in seen.values())} of {sum(n for _, n in seen.values())}"


def named_input_lists(named_inputs: Any) -> dict[str, list[str]]:
    """Snakemake's named inputs as ``{name: [paths]}`` (a single path becomes a one-item list)."""
    return {
        key: [named_inputs[key]] if isinstance(named_inputs[key], str) else list(named_inputs[key])
        for key in named_inputs.keys()
    }

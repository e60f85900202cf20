"""What a figure renderer gets: the configured options, the named input files and loaders for them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..loading import experiment_of, read_finals
from ..metrics import default_metric, divergence_threshold, infer_dataset
from ..stats import DEFAULT_SEED, N_RESAMPLES, THREE_BATCHED, THREE_BATCHED_SOURCE, with_random_3batched


def resolve_metric(
    experiments: Sequence[str],
    options: Mapping[str, Any],
    experiments_config: Mapping[str, Any] | None,
    error: bool = False,
) -> tuple[str, str]:
    """(dataset, metric) of a figure: ``metric`` option, else the first experiment's default."""
    first = experiments[0]
    try:
        dataset = str(options.get("dataset") or infer_dataset(first, experiments_config))
    except ValueError:
        if options.get("metric"):
            return "", str(options["metric"])
        raise
    metric = options.get("metric") or default_metric(dataset, error=error)
    return dataset, str(metric)


@dataclass(frozen=True)
class FigureContext:
    """One configured figure: its kind, name, options and named inputs (see :mod:`.registry`)."""

    kind: str
    name: str
    options: Mapping[str, Any]
    inputs: Mapping[str, Sequence[str]]
    experiments_config: Mapping[str, Any] | None = None
    cells: Mapping[str, Sequence[int] | None] | None = None

    def paths(self, key: str) -> list[str]:
        """The input files named ``key`` (``final``, ``scalars``, ``bayesopt_scalars``, ``hypergradients``)."""
        return list(self.inputs.get(key, []))

    def opt(self, key: str, default: Any) -> Any:
        """An option, ``default`` when it is missing or null."""
        value = self.options.get(key, default)
        return default if value is None else value

    @property
    def experiments(self) -> list[str]:
        """The experiments drawn: those of the inputs, else the ``experiments`` option."""
        files = self.paths("final") or self.paths("scalars")
        return [experiment_of(p) for p in files] or list(self.options.get("experiments", []))

    @property
    def seed(self) -> int:
        return int(self.opt("seed", DEFAULT_SEED))

    @property
    def n_resamples(self) -> int:
        return int(self.opt("n_resamples", N_RESAMPLES))

    @property
    def algorithms(self) -> Sequence[str] | None:
        """The ``algorithms`` option (a filter), or None."""
        return self.options.get("algorithms")

    def metric(self, error: bool = False) -> tuple[str, str]:
        """(dataset, metric): the ``metric`` option, else the dataset's default (test error if ``error``)."""
        return resolve_metric(self.experiments, self.options, self.experiments_config, error=error)

    def metric_and_threshold(self) -> tuple[str, float]:
        """The metric and its divergence threshold on the figure's dataset."""
        dataset, metric = self.metric()
        return metric, divergence_threshold(dataset, metric)

    def load_final(self) -> pd.DataFrame:
        """The final values, with Random (3-batched) derived unless ``three_batched: false``, filtered."""
        algorithms = self.algorithms
        f = read_finals(self.paths("final"))
        if algorithms:
            f = f[f["algorithm"].isin(list(algorithms) + [THREE_BATCHED_SOURCE] * (THREE_BATCHED in algorithms))]
        if self.opt("three_batched", True):
            f = with_random_3batched(f, int(self.opt("three_batched_seed", DEFAULT_SEED)))
        if algorithms:
            f = f[f["algorithm"].isin(list(algorithms))]
        return f

    def filtered(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` restricted to the ``algorithms`` option (unchanged without one)."""
        return frame[frame["algorithm"].isin(list(self.algorithms))] if self.algorithms else frame

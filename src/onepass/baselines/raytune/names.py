"""The one definition of the Ray baselines' names (standard library only).

A Ray search is one scheduler (``ASHA`` or ``PBT``) driving one outer algorithm (``Random`` or
``Ours_LR_Momentum``); its name in the aggregated tables, figures and styles is
``<scheduler>_<algorithm>`` (e.g. ``ASHA_Ours_LR_Momentum``; docs/CONTRACTS.md). The pipeline
(``onepass.pipeline.hpo``) and the analysis (``onepass.analysis.style``, ``ray_results``) import
these instead of spelling the names again.
"""

from __future__ import annotations

#: Ray Tune schedulers, in the paper's order.
SCHEDULERS: tuple[str, ...] = ("ASHA", "PBT")

#: Outer algorithm name -> the library algorithm that trains each trial.
ALGORITHMS: dict[str, str] = {"Random": "Random_Validation", "Ours_LR_Momentum": "Ours_LR_Momentum"}


def algorithm_name(scheduler: str, algorithm: str) -> str:
    """Name in the aggregated tables, e.g. ``ASHA_Ours_LR_Momentum`` (docs/CONTRACTS.md)."""
    return f"{scheduler}_{algorithm}"


#: Combined name -> (scheduler, outer algorithm), schedulers outermost:
#: ASHA_Random, ASHA_Ours_LR_Momentum, PBT_Random, PBT_Ours_LR_Momentum.
SEARCHES: dict[str, tuple[str, str]] = {
    algorithm_name(scheduler, algorithm): (scheduler, algorithm) for scheduler in SCHEDULERS for algorithm in ALGORITHMS
}

#: The combined names, in canonical (legend and table) order.
SEARCH_NAMES: tuple[str, ...] = tuple(SEARCHES)


class RayTuneError(ValueError):
    """A bad ASHA/PBT setting; the message names the key."""


def normalise_scheduler(name: str) -> str:
    """``asha`` -> ``ASHA``; an unknown scheduler is an error naming the allowed ones."""
    upper = str(name).upper()
    if upper not in SCHEDULERS:
        raise RayTuneError(f"scheduler: unknown '{name}'; allowed: {', '.join(SCHEDULERS)}")
    return upper


def check_algorithm(algorithm: str) -> str:
    """``algorithm`` if it is an outer algorithm name, else an error naming the allowed ones."""
    if algorithm not in ALGORITHMS:
        raise RayTuneError(f"algorithm: unknown '{algorithm}'; allowed: {', '.join(ALGORITHMS)}")
    return algorithm

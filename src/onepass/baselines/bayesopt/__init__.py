"""Bayesian optimisation baseline: one repetition = 5 random + 25 GP-guided full trainings.

The paper compares its one-pass methods with a black-box optimiser that needs many complete
trainings. Each trial here is a ``Random_Validation`` run whose
*initial* (and constant) lr, weight decay and momentum are proposed by a Gaussian-process optimiser
(``bayesian-optimization`` 3.x: Matern-2.5 GP, normalised targets, UCB with kappa = 2.576, the
package defaults the authors also used). The objective maximised is minus the final loss on the whole
validation set (normalised MSE for UCI, cross-entropy otherwise).

A trial that diverges (non-finite final validation loss) is scored with a fixed, finite penalty
instead of crashing the repetition: the authors' constants (Energy 150, Kin8nm 0.1, Power 400,
Fashion-MNIST 3) are the defaults. They are on a different scale from the objective (kept for fidelity,
docs/FIDELITY.md); pass ``penalty`` to change them.

Seeding: the repetition index seeds the optimiser's random state, and trial ``k`` of repetition ``r``
trains with seed ``r * 1000 + k`` (initial weights and data order), so every trial differs but a
repetition is reproducible end to end.

Outputs (``OUT.parquet`` + ``OUT.json``, written atomically):

* the parquet is a chunk table (docs/CONTRACTS.md) with ``seed`` = repetition and the trials
  concatenated: trial ``k``'s per-step tags are shifted by ``k * (T*H + 1)`` and its ``Last_*`` tags
  (indexed by hyperparameter step) by ``k * H``. An extra ``trial`` column names the trial of every
  row, and three tags are logged once per trial at its final step: ``BayesOpt/Trial`` (k),
  ``BayesOpt/Objective`` and ``BayesOpt/Best_Objective`` (running maximum). Wall times are the real
  clock, so the gaps between trials include the optimiser's own time, as in the paper's curves.
* the JSON has one ``runs`` entry per trial (the usual run summary plus ``trial``, ``training_seed``,
  ``kind``, ``params``, ``objective``, ``penalised``, ``suggest_seconds``) and a ``best`` block: the
  trial with the best objective, and ``oracle_best_test`` = the lowest test metric seen at any step of
  any trial (how the paper summarised BayesOpt: selected by *test* loss, an oracle; docs/FIDELITY.md).

``aggregate_bayesopt`` turns the repetition files of an experiment into the usual
``results/scalars/<exp>.parquet`` / ``<exp>_final.csv`` with algorithm ``BayesOpt``.

Modules, one job each:

* :mod:`.space`: names, bounds, default penalties, kappa, seeds and their checks (standard library only);
* :mod:`.trial`: what the trials share (:func:`~.trial.prepare`) and one trial: train, score, rows, summary;
* :mod:`.search`: :func:`run_bayesopt`, the propose / train / register loop and the JSON payload;
* :mod:`.aggregate`: :func:`aggregate_bayesopt`;
* :mod:`.cli` (and ``__main__``): ``python -m onepass.baselines.bayesopt run ...`` and ``... aggregate ...``.

The names below are importable from this package; each is loaded from its module on first use, so
``import onepass.baselines.bayesopt.space`` stays light.
"""

from __future__ import annotations

from ...lazy import lazy_attributes

#: Public name -> the module (in this package) that defines it.
_EXPORTS = {
    "ALGORITHM": "space",
    "INNER_ALGORITHM": "space",
    "DEFAULT_BOUNDS": "space",
    "DEFAULT_KAPPA": "space",
    "SEED_STRIDE": "space",
    "TRIAL_TAGS": "space",
    "BayesOptError": "space",
    "check_bounds": "space",
    "default_penalty": "space",
    "natural_hyperparameters": "space",
    "trial_seed": "space",
    "run_bayesopt": "search",
    "aggregate_bayesopt": "aggregate",
    "build_parser": "cli",
    "main": "cli",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_attributes(__name__, _EXPORTS)

"""ASHA and PBT baselines with Ray Tune 2.x (the paper's appendix comparison).

Each Ray trial is one training run on a dataset (the paper: UCI Energy) with initial hyperparameters
drawn by Ray from lr = 10^U(-6,-1), weight decay = 10^U(-7,-2), momentum = U(0, 1). Two inner
algorithms are wrapped:

* ``Random``: the authors' ``Random_TrainingSetOnly``: trains on the training split only (the
  dataset's validation proportion is held out), hyperparameters fixed. Implemented with this
  library's ``Random_Validation`` (same data handling; the validation split is only used for the
  reported ``validation_loss``).
* ``Ours_LR_Momentum``: additionally adapts lr, weight decay and momentum within the trial.

Every hyperparameter window (T weight steps) the trial reports ``weight_steps`` (the time attribute
of both schedulers, in weight steps, so ``max_t`` 4000 = one full training), ``validation_loss``
(whole validation split after the update; NaN -> inf so the schedulers rank it last),
``test_loss``, ``unnormalised_test_loss`` and the current hyperparameters. Reporting once per window
rather than once per weight step (as the authors did) costs a tenth of Ray's per-report overhead and
leaves PBT unchanged (it acts every ``perturbation_interval`` steps, a multiple of T), but moves ASHA's
rungs: with the smallest grace period (one window) they sit at 10, 40, 160, 640, 2560 weight steps
instead of the authors' 1, 4, 16, ..., 1024 (a documented difference: decisions after 1-4 steps of
training are mostly noise). A trial whose training loss becomes non-finite stops.

PBT checkpoints every window (model, HyperSGD and data-stream state, with ``torch.save`` and
``torch.load(weights_only=True)``). On exploitation Ray restarts the trial from the donor's
checkpoint with a perturbed config. Following the authors, each raw initial value (log10 lr,
log10 wd, logit momentum) that changed multiplies the checkpoint's current raw value by new/old
(``Ours``); ``Random``'s fixed values are simply replaced. Counters continue from the checkpoint, and
the trial records ``restored_from`` (the donor's trial id), so exploitation is visible in the results.

Ray is imported lazily: the core install stays lean (``pip install .[ray]`` adds it).

Outputs of one (scheduler, algorithm) search, written atomically:

* ``OUT.parquet``: one row per report of every trial: ``trial`` (index), ``trial_id``, ``wall_time``
  (seconds since the epoch), ``timestamp`` (Ray's), ``iteration`` (= weight steps),
  ``training_iteration``, ``validation_loss``, ``test_loss``, ``unnormalised_test_loss``, ``lr``,
  ``weight_decay``, ``momentum``, ``restored_from``.
* ``OUT.json``: the settings and one summary per trial (config, last report, reached max_steps,
  restores).

``aggregate_ray`` converts these into ``results/scalars/<exp>.parquet`` / ``<exp>_final.csv``
(algorithm ``<ASHA|PBT>_<alg>``, seed = trial index) for the ``AverageResults`` tables; the final
CSV holds only trials that trained for the full ``max_steps``, the paper's selection.

Modules, one job each:

* :mod:`.names`: the scheduler and algorithm names and their combinations (``ASHA_Random``, ...),
  defined once here for the whole package (standard library only; the pipeline and the analysis
  import them);
* :mod:`.space`: Ray's search space and the trial config -> initial hyperparameters mapping;
* :mod:`.trainable`: one trial inside a Ray worker (train, report, checkpoint, restore);
* :mod:`.search`: :func:`run_search`: checks, scheduler, ``Tuner``, Ray session, JSON payload;
* :mod:`.collect`: Ray's results -> the search's table and per-trial summaries;
* :mod:`.aggregate`: :func:`aggregate_ray`;
* :mod:`.cli` (and ``__main__``): ``python -m onepass.baselines.raytune run ...`` and ``... aggregate ...``.

The names below are importable from this package; each is loaded from its module on first use, so
``import onepass.baselines.raytune.names`` stays light (no numpy, pandas or Ray).
"""

from __future__ import annotations

from ...lazy import lazy_attributes

#: Public name -> the module (in this package) that defines it.
_EXPORTS = {
    "SCHEDULERS": "names",
    "ALGORITHMS": "names",
    "SEARCHES": "names",
    "SEARCH_NAMES": "names",
    "RayTuneError": "names",
    "algorithm_name": "names",
    "normalise_scheduler": "names",
    "MOMENTUM_MIN": "space",
    "MOMENTUM_MAX": "space",
    "RAW_KEYS": "space",
    "search_space": "space",
    "trial_hyperparameters": "space",
    "require_ray": "search",
    "run_search": "search",
    "ROW_COLUMNS": "collect",
    "RAY_TAGS": "aggregate",
    "aggregate_ray": "aggregate",
    "build_parser": "cli",
    "main": "cli",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_attributes(__name__, _EXPORTS)

"""Neumann (one-pass) versus exact hypergradients at the first hyperparameter step.

For each seed and cell (T, i) both methods start from the same initial weights, hyperparameters
and batches (pairing by seed) and train one window of T steps; the Neumann method differentiates
the last update with an i-term series, Diff-through-Opt unrolls the last i updates exactly. The
table holds both raw-space hypergradients so the analysis can report the raw error as well as the
authors' first-Adam-step comparison, which mostly measures sign agreement (docs/FIDELITY.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from ..training.algorithms import get_algorithm, resolved_run_config
from ..training.config import build_config
from ..training.data import prepare_data
from ..training.run import TrainingRun
from ..training.run_config import RunConfig


def first_window_hypergradient(run: TrainingRun) -> dict[str, float]:
    """Step ``run`` through its first window and return the raw hypergradient of its last step."""
    if run.language_model:
        raise ValueError("the hypergradient comparison supports tabular datasets only")
    result = None
    for _ in range(run.T):
        train_batch, val_batch = run._next_batches()

        def train_loss(model, batch=train_batch):
            return run.task.loss(model, batch)[0]

        def val_loss(model, batch=val_batch):
            return run.task.loss(model, batch)[0]

        result = run.engine.step(train_loss, val_loss)
    assert result is not None and result.hypergradient is not None
    return {name: float(value) for name, value in result.hypergradient.items()}


def comparison_table(
    dataset_config: str,
    update_interval: Sequence[int],
    lookbacks: Sequence[int],
    seeds: Sequence[int],
    data_dir: str | Path = "resources/data",
    device: str = "cpu",
) -> pd.DataFrame:
    """Columns ``T, i, seed, hyperparameter, neumann, exact`` for every cell with i <= T."""
    torch_device = torch.device(device)
    ours, exact = get_algorithm("Ours_LR_Momentum"), get_algorithm("DiffThroughOpt")
    base = build_config(dataset_config, {"lr_clip": None, "hyperparameter_steps": 1})
    data = prepare_data(RunConfig.from_valid(base), data_dir, True, torch_device)
    rows = []
    for T in update_interval:
        for i in lookbacks:
            if i > T:
                continue
            config = build_config(
                dataset_config,
                {"lr_clip": None, "hyperparameter_steps": 1, "update_interval": T, "lookback": i},
            )
            # validated once per cell (by build_config), typed once per algorithm, not again per seed
            ours_config, exact_config = resolved_run_config(config, ours), resolved_run_config(config, exact)
            for seed in seeds:
                neumann = first_window_hypergradient(TrainingRun(ours_config, ours, seed, data, torch_device))
                unrolled = first_window_hypergradient(TrainingRun(exact_config, exact, seed, data, torch_device))
                for name in ("lr", "weight_decay", "momentum"):
                    rows.append(
                        {
                            "T": T,
                            "i": i,
                            "seed": seed,
                            "hyperparameter": name,
                            "neumann": neumann[name],
                            "exact": unrolled[name],
                        }
                    )
    return pd.DataFrame(rows, columns=["T", "i", "seed", "hyperparameter", "neumann", "exact"])

"""A run's complete state at a window boundary, as checkpoints store it, and its restoration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .tensor_tree import to_cpu, to_device

if TYPE_CHECKING:
    from .run import TrainingRun


def run_state(run: TrainingRun) -> dict[str, Any]:
    """The complete state at a window boundary, as tensors and plain Python values only.

    Everything that influences later steps is here (weights and BatchNorm buffers, momentum
    buffers, hyperparameters and Adam state, data order and positions, RNN hidden states, RNG
    states), so a resumed run continues bit-identically on CPU; the scalar log comes along so
    nothing logged before the interruption is lost. Loadable with ``weights_only=True``.
    """
    return {
        "seed": run.seed,
        "algorithm": run.algorithm.name,
        "window": run.window,
        "status": run.status,
        "diverged_at_step": run.diverged_at_step,
        "reason": run.reason,
        "train_seconds": run.train_seconds,
        "wall_seconds": run.wall_seconds,
        "model": {k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()},
        "engine": to_cpu(run.engine.state_dict()),
        "initial_weights": None if run.initial_weights is None else [w.cpu().clone() for w in run.initial_weights],
        "streams": {
            "train": run.train_stream.state_dict(),
            "validation": None if run.val_stream is None else run.val_stream.state_dict(),
        },
        "hidden": {k: None if v is None else [h.cpu().clone() for h in v] for k, v in run.hidden.items()},
        "torch_rng": torch.get_rng_state(),
        "log": run.log.state_dict(),
    }


def restore_run(run: TrainingRun, state: dict[str, Any]) -> None:
    """Continue from :meth:`state_dict` output (the run must be built with the same settings)."""
    if state["seed"] != run.seed or state["algorithm"] != run.algorithm.name:
        raise ValueError(
            f"checkpoint is for {state['algorithm']} seed {state['seed']}, not {run.algorithm.name} seed {run.seed}"
        )
    run.window = int(state["window"])
    run.status, run.diverged_at_step, run.reason = state["status"], state["diverged_at_step"], state["reason"]
    run.train_seconds, run.wall_seconds = float(state["train_seconds"]), float(state["wall_seconds"])
    run.model.load_state_dict(state["model"])
    run.engine.load_state_dict(to_device(state["engine"], run.device))
    if state["initial_weights"] is not None:
        run.initial_weights = [w.to(run.device) for w in state["initial_weights"]]
    run.train_stream.load_state_dict(state["streams"]["train"])
    if run.val_stream is not None:
        run.val_stream.load_state_dict(state["streams"]["validation"])
    run.hidden = {k: None if v is None else tuple(h.to(run.device) for h in v) for k, v in state["hidden"].items()}
    torch.set_rng_state(state["torch_rng"])
    run.log.load_state_dict(state["log"])
    if run.tensorboard is not None:
        run.tensorboard.skip_logged(run.log)
    run._hp_summary = run._hyperparameter_summary()

"""The structure a chunk checkpoint must have before any of it is trusted.

`weights_only=True` guarantees a loaded checkpoint holds only tensors and plain values, not that it
holds the right ones: a hand-edited or foreign file can load fine and still list seed 0 seven times,
or lack a field the resume reads. Every field the resume uses is checked here, against the seeds
of the job, and a mismatch is one line naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

_FRAME_FIELDS = {
    "seed": torch.int32,
    "step": torch.int32,
    "tag_codes": torch.int32,
    "value": torch.float64,
    "wall_time": torch.float64,
}
_SUMMARY_FIELDS = (
    "seed", "status", "diverged_at_step", "reason", "initial_hyperparameters", "final",
    "final_full_validation_loss", "train_seconds", "wall_seconds", "peak_memory_mb", "steps_completed",
)  # fmt: skip


# The top-level fields of a running seed's state (onepass.training.run_state.run_state).
_RUN_STATE_FIELDS = (
    "seed", "algorithm", "window", "status", "diverged_at_step", "reason", "train_seconds", "wall_seconds",
    "model", "engine", "initial_weights", "streams", "hidden", "torch_rng", "log",
)  # fmt: skip


class MalformedCheckpoint(ValueError):
    """A checkpoint whose structure is not what this version writes; the message names the field."""


def _require(condition: bool, field: str, problem: str) -> None:
    if not condition:
        raise MalformedCheckpoint(f"'{field}' {problem}")


def check_checkpoint(state: Any, seeds: Sequence[int]) -> None:
    """Raise :class:`MalformedCheckpoint` unless ``state`` is a well-formed checkpoint of ``seeds``.

    The finished seeds must be the job's first seeds, in order, each once; the running seed's state
    (if any) must be the next one.
    """
    _require(isinstance(state, dict), "checkpoint", f"is a {type(state).__name__}, not a mapping")
    for field in ("format", "key", "completed", "current"):
        _require(field in state, field, "is missing")
    _require(isinstance(state["key"], str), "key", "is not text")
    _require(isinstance(state.get("inputs", {}), dict), "inputs", "is not a mapping")
    completed = state["completed"]
    _require(isinstance(completed, list), "completed", "is not a list")
    _require(len(completed) <= len(seeds), "completed", f"lists {len(completed)} runs for {len(seeds)} seeds")
    for index, item in enumerate(completed):
        _check_completed(item, seeds[index], f"completed[{index}]")
    current = state["current"]
    if current is not None:
        _require(isinstance(current, dict), "current", "is neither empty nor a run state")
        _require(len(completed) < len(seeds), "current", "is a run state but every seed is already finished")
        missing = [field for field in _RUN_STATE_FIELDS if field not in current]
        _require(not missing, "current", f"lacks {', '.join(missing)}")
        expected = seeds[len(completed)]
        seed = current.get("seed")
        _require(
            _is_int(seed) and seed == expected,
            "current.seed",
            f"is {seed!r}, but the next seed of the job is {expected}",
        )


def _check_completed(item: Any, seed: int, where: str) -> None:
    _require(isinstance(item, dict), where, "is not a mapping")
    summary, frame = item.get("summary"), item.get("frame")
    _require(isinstance(summary, dict), f"{where}.summary", "is missing or not a mapping")
    missing = [field for field in _SUMMARY_FIELDS if field not in summary]
    _require(not missing, f"{where}.summary", f"lacks {', '.join(missing)}")
    _require(set(summary) == set(_SUMMARY_FIELDS), f"{where}.summary", "has unknown fields")
    _require(
        _is_int(summary["seed"]) and summary["seed"] == seed,
        f"{where}.summary.seed",
        f"is {summary['seed']!r}, but seed {seed} belongs at this place",
    )
    _require(isinstance(frame, dict), f"{where}.frame", "is missing or not a mapping")
    lengths = set()
    for field, dtype in _FRAME_FIELDS.items():
        tensor = frame.get(field)
        _require(
            isinstance(tensor, torch.Tensor) and tensor.dtype == dtype and tensor.dim() == 1,
            f"{where}.frame.{field}",
            f"is not a 1-D {dtype} tensor",
        )
        lengths.add(tensor.shape[0])
    _require(len(lengths) == 1, f"{where}.frame", "has columns of different lengths")
    names = frame.get("tag_names")
    _require(
        isinstance(names, list) and all(isinstance(name, str) for name in names),
        f"{where}.frame.tag_names",
        "is not a list of text",
    )
    codes = frame["tag_codes"]
    _require(
        len(codes) == 0 or (int(codes.min()) >= 0 and int(codes.max()) < len(names)),
        f"{where}.frame.tag_codes",
        "points outside tag_names",
    )
    _require(bool((frame["seed"] == seed).all()), f"{where}.frame.seed", f"holds rows of seeds other than {seed}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

"""Train several seeds of one algorithm in one process and write one parquet + one JSON.

Running a chunk of seeds per process avoids paying interpreter start-up and ``import torch`` for
every run, which dominated the cost of small UCI runs in the authors' one-process-per-run setup.
"""

from __future__ import annotations

import math
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from .algorithms import get_algorithm, resolve_config
from .checkpoint import ChunkCheckpointer, fingerprint
from .config import build_config
from .data import prepare_data
from .io_utils import OutputError, atomic_write, atomic_write_json
from .scalars import empty_frame
from .trainer import RunResult, TrainingRun


def parse_seeds(text: str) -> list[int]:
    """Parse ``"0-19"``, ``"0,3,5"``, ``"7"`` or combinations like ``"0-4,10"``."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part[1:]:
                lo, hi = part.split("-", 1) if not part.startswith("-") else (part, part)
                start, stop = int(lo), int(hi)
                if stop < start:
                    raise ValueError
                seeds.extend(range(start, stop + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise ValueError(f"--seeds: cannot parse '{part}'; use e.g. 0-19, 0,3,5 or 7") from None
    if not seeds:
        raise ValueError("--seeds: no seeds given")
    if any(s < 0 for s in seeds):
        raise ValueError("--seeds: seeds must be non-negative")
    if len(set(seeds)) != len(seeds):
        raise ValueError("--seeds: duplicate seeds")
    return seeds


def set_threads(threads: int | None) -> None:
    """Apply ``--threads`` (None keeps torch's default); the small UCI models run fastest on one."""
    if threads is None:
        return
    if threads < 1:
        raise ValueError("--threads must be >= 1")
    torch.set_num_threads(threads)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available, so GPU pipeline rules still run on a laptop's CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    return torch.device(name)


def output_paths(out: str | Path) -> tuple[Path, Path]:
    """``X.parquet`` -> (X.parquet, X.json); a folder -> (folder/scalars.parquet, folder/summary.json)."""
    out = Path(out)
    if out.suffix == ".parquet":
        return out, out.with_suffix(".json")
    return out / "scalars.parquet", out / "summary.json"


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(table.schema.get_field_index("tag"), "tag", table.column("tag").dictionary_encode())
    atomic_write(path, lambda temp: pq.write_table(table, temp, compression="zstd"))


def train_chunk(
    dataset_config: str,
    algorithm_name: str,
    seeds: Sequence[int],
    out: str | Path,
    *,
    data_dir: str | Path = "resources/data",
    device: str = "auto",
    overrides: Sequence[str] | dict[str, Any] | None = None,
    tensorboard_dir: str | Path | None = None,
    experiment: str | None = None,
    init_weights: str | Path | None = None,
    progress: bool = True,
    checkpoint_every: float | None = 300.0,
    keep_checkpoint: bool = False,
) -> list[RunResult]:
    """Train ``seeds`` and write the chunk's parquet and JSON atomically; return the results.

    With ``checkpoint_every`` (seconds; None disables) the chunk checkpoints to ``<out>.ckpt`` and
    on SIGTERM/SIGUSR1, raising :class:`onepass.checkpoint.Preempted`; calling again resumes.
    """
    algorithm = get_algorithm(algorithm_name)
    config = build_config(dataset_config, overrides)
    resolved = resolve_config(config, algorithm)
    parquet_path, json_path = output_paths(out)
    check_writable(parquet_path.parent)
    torch_device = resolve_device(device)
    data = prepare_data(resolved, data_dir, algorithm.keep_validation, torch_device)
    total_steps = resolved["network_weight_steps"] * resolved["hyperparameter_steps"] * len(seeds)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=total_steps,
            desc=f"{algorithm_name} seeds {seeds[0]}..{seeds[-1]}",
            unit="step",
            mininterval=2.0,
            file=sys.stderr,
        )
    key = fingerprint(
        {"algorithm": algorithm_name, "seeds": list(seeds), "config": resolved, "init_weights": str(init_weights)}
    )
    checkpointer = ChunkCheckpointer(checkpoint_path(parquet_path), key, checkpoint_every or float("inf"))
    results, current = checkpointer.load() if checkpoint_every is not None else ([], None)
    steps_per_run = resolved["network_weight_steps"] * resolved["hyperparameter_steps"]
    try:
        with checkpointer:
            if bar is not None and results:
                bar.update(steps_per_run * len(results))
            for seed in seeds[len(results) :]:
                tb = Path(tensorboard_dir) / f"seed{seed}" if tensorboard_dir is not None else None
                run = TrainingRun(
                    config, algorithm, seed, data, torch_device, init_weights=init_weights, tensorboard_dir=tb
                )
                if current is not None:
                    run.load_state_dict(current)
                    current = None
                    if bar is not None:
                        bar.update(run.window * run.T)
                result = run.run(
                    progress=bar.update if bar is not None else None,
                    after_window=checkpointer.after_window if checkpoint_every is not None else None,
                )
                if bar is not None and result.status != "ok":
                    bar.update(steps_per_run - result.steps_completed)
                results.append(result)
                if checkpoint_every is not None:
                    checkpointer.finished_seed(result)
    finally:
        if bar is not None:
            bar.close()
    frames = [r.frame for r in results if len(r.frame)]
    frame = pd.concat(frames, ignore_index=True) if frames else empty_frame()
    payload = {
        "algorithm": algorithm_name,
        "dataset": resolved["dataset"],
        "experiment": experiment,
        "config": resolved,
        "environment": {"torch": torch.__version__, "python": platform.python_version(), "device": str(torch_device)},
        "runs": [_jsonable(r.summary()) for r in results],
    }
    write_parquet(frame, parquet_path)
    atomic_write_json(json_path, payload)
    if not keep_checkpoint:
        checkpointer.remove()
    return results


def checkpoint_path(parquet_path: Path) -> Path:
    """``<chunk>.ckpt`` next to the chunk's outputs (not an output: Snakemake leaves it alone)."""
    return parquet_path.with_suffix(".ckpt")


def check_writable(folder: Path) -> None:
    """Fail before training, not after hours of it, when the outputs cannot be written."""
    probe = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".onepass-write-test-{os.getpid()}"
        probe.write_bytes(b"")
    except OSError as error:
        raise OutputError(f"{folder}: output folder is not writable ({error.strerror or error})") from None
    finally:
        if probe is not None:
            probe.unlink(missing_ok=True)


def _jsonable(value: Any) -> Any:
    """NaN/inf become null so the JSON stays standard."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value

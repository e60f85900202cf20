"""Train several seeds of one algorithm in one process and write one parquet + one JSON.

Running a chunk of seeds per process avoids paying interpreter start-up and ``import torch`` for
every run, which dominated the cost of small UCI runs in the authors' one-process-per-run setup.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from ..io_utils import OutputError, jsonable, sha256_file, write_all_atomically, write_json
from ..records.aggregate import SCALARS_SHA256
from ..records.scalars import empty_frame
from .algorithms import get_algorithm, overridden_pinned_settings, resolve_config
from .checkpoint import ChunkCheckpointer, fingerprint
from .config import build_config, override_items
from .data import prepare_data
from .run import RunResult, TrainingRun
from .run_config import RunConfig


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


def set_threads(threads: int | None) -> int:
    """Apply ``--threads`` and return the count used.

    ``None`` means ``$OMP_NUM_THREADS`` when set (the pipeline's rules and SLURM export it), else 1:
    the paper's UCI and Fashion-MNIST models are fastest on one thread, and several runs side by side
    each taking every core (torch's default) ran 3-5x slower per run. ``0`` keeps torch's default.
    """
    if threads is None:
        from_environment = os.environ.get("OMP_NUM_THREADS", "").strip()
        if not from_environment:
            threads = 1
        elif from_environment.isdigit() and int(from_environment) >= 1:
            threads = int(from_environment)
        else:
            raise ValueError(
                f"OMP_NUM_THREADS={from_environment!r} is not a positive integer: unset it or pass --threads N"
            )
    if threads < 0:
        raise ValueError("--threads must be >= 0 (0: torch's default, every core)")
    if threads > 0:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available, so GPU pipeline rules still run on a laptop's CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name}: not a device; use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: no CUDA device is available here; use --device cpu or auto")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {name}: only cpu, cuda, cuda:N and auto are supported")
    return device


def output_paths(out: str | Path) -> tuple[Path, Path]:
    """``X.parquet`` -> (X.parquet, X.json); a folder -> (folder/scalars.parquet, folder/summary.json)."""
    out = Path(out)
    if out.suffix == ".parquet":
        return out, out.with_suffix(".json")
    return out / "scalars.parquet", out / "summary.json"


def scalars_writer(frame: pd.DataFrame) -> Callable[[Path], None]:
    """A writer of a chunk table as zstd parquet with a dictionary-encoded ``tag`` column."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(table.schema.get_field_index("tag"), "tag", table.column("tag").dictionary_encode())
    return lambda temp: pq.write_table(table, temp, compression="zstd")


def write_chunk(
    parquet_path: Path, json_path: Path, write_table: Callable[[Path], None], payload: dict[str, Any]
) -> None:
    """Write a chunk's table and JSON summary together (both appear or neither does).

    The summary records the table's sha256 (``scalars_sha256``), which aggregation checks, so a
    table and a summary from two different runs can never pass for one chunk.
    """
    digest: dict[str, str] = {}

    def table(temp: Path) -> None:
        write_table(temp)
        digest["sha256"] = sha256_file(temp)

    def summary(temp: Path) -> None:
        write_json({**payload, SCALARS_SHA256: digest["sha256"]})(temp)

    write_all_atomically({parquet_path: table, json_path: summary})


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

    The chunk checkpoints to ``<out>.ckpt`` every ``checkpoint_every`` seconds (None: never
    periodically) and, whatever that setting, when SIGTERM, SIGUSR1 or SIGINT arrives, at the end of
    the running hyperparameter window; it then raises :class:`onepass.training.checkpoint.Preempted`.
    Calling again with the same arguments resumes from the checkpoint, bit-identically on CPU.
    """
    if checkpoint_every is not None and not checkpoint_every > 0:
        raise ValueError(f"--checkpoint-every must be positive seconds (0 disables), got {checkpoint_every}")
    algorithm = get_algorithm(algorithm_name)
    config = build_config(dataset_config, overrides)
    resolved = resolve_config(config, algorithm)
    run_config = RunConfig.from_mapping(resolved)
    replaced = overridden_pinned_settings(algorithm, override_items(overrides))
    if replaced:
        print(f"warning: {algorithm_name} ignores {', '.join(replaced)}: it defines these", file=sys.stderr)
    parquet_path, json_path = output_paths(out)
    check_writable(parquet_path.parent)
    torch_device = resolve_device(device)
    data = prepare_data(run_config, data_dir, algorithm.keep_validation, torch_device)
    key = fingerprint(
        {"algorithm": algorithm_name, "seeds": list(seeds), "config": resolved, "init_weights": str(init_weights)}
    )
    checkpointer = ChunkCheckpointer(checkpoint_path(parquet_path), key, checkpoint_every or math.inf)
    make_run = partial(TrainingRun, config, algorithm, data=data, device=torch_device, init_weights=init_weights)
    label = f"{algorithm_name} seeds {seeds[0]}..{seeds[-1]}"
    results = _train_seeds(make_run, seeds, checkpointer, run_config.total_steps, tensorboard_dir, label, progress)
    frames = [r.frame for r in results if len(r.frame)]
    payload = {
        "algorithm": algorithm_name,
        "dataset": run_config.dataset,
        "experiment": experiment,
        "config": resolved,
        "environment": {"torch": torch.__version__, "python": platform.python_version(), "device": str(torch_device)},
        "runs": [jsonable(r.summary()) for r in results],
    }
    frame = pd.concat(frames, ignore_index=True) if frames else empty_frame()
    write_chunk(parquet_path, json_path, scalars_writer(frame), payload)
    if not keep_checkpoint:
        checkpointer.remove()
    return results


def _train_seeds(
    make_run: Callable[..., TrainingRun],
    seeds: Sequence[int],
    checkpointer: ChunkCheckpointer,
    steps_per_run: int,
    tensorboard_dir: str | Path | None,
    label: str,
    progress: bool,
) -> list[RunResult]:
    """Train the seeds one after another, resuming from the checkpoint's finished seeds and state."""
    results, current = checkpointer.load()
    bar = _progress_bar(label, steps_per_run * len(seeds), progress)
    try:
        with checkpointer:
            bar.update(steps_per_run * len(results))
            for seed in seeds[len(results) :]:
                tb = Path(tensorboard_dir) / f"seed{seed}" if tensorboard_dir is not None else None
                run = make_run(seed, tensorboard_dir=tb)
                if current is not None:
                    run.load_state_dict(current)
                    current = None
                    bar.update(run.window * run.T)
                result = run.run(progress=bar.update, after_window=checkpointer.after_window)
                bar.update(steps_per_run - result.steps_completed)  # a diverged run's remaining steps
                results.append(result)
                checkpointer.finished_seed(result)
    finally:
        bar.close()
    return results


def _progress_bar(description: str, total: int, enabled: bool) -> Any:
    """A tqdm bar on stderr, or a stand-in with the same two methods that shows nothing."""
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="step", mininterval=2.0, file=sys.stderr, disable=not enabled)


def checkpoint_path(parquet_path: Path) -> Path:
    """``<chunk>.ckpt`` next to the chunk's outputs (not an output: Snakemake leaves it alone)."""
    return parquet_path.with_suffix(".ckpt")


def check_writable(folder: Path) -> None:
    """Fail before training, not after hours of it, when the outputs cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".onepass-write-test-")
    except OSError as error:
        raise OutputError(f"{folder}: output folder is not writable ({error.strerror or error})") from None
    os.close(handle)
    with contextlib.suppress(OSError):  # a probe that cannot be removed must not hide the result
        os.unlink(probe)

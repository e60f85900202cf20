"""Train several seeds of one algorithm in one process and write one parquet + one JSON.

Running a chunk of seeds per process avoids paying interpreter start-up and ``import torch`` for
every run, which dominated the cost of small UCI runs in the authors' one-process-per-run setup.
"""

from __future__ import annotations

import contextlib
import math
import os
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

from ..io_utils import OutputError, jsonable, remove_stale_temps, sha256_file, write_all_atomically, write_json
from ..records.aggregate import SCALARS_SHA256
from ..records.scalars import empty_frame
from .algorithms import get_algorithm, overridden_pinned_settings, resolve_config
from .checkpoint import ChunkCheckpointer, fingerprint
from .config import build_config, override_items
from .data import prepare_data
from .machine import describe_machine
from .run import RunResult, TrainingRun
from .run_config import RunConfig


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
    if not str(out).strip():
        raise OutputError("--out: empty; name the output, e.g. --out results/chunk.parquet")
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
    overwrite: bool = False,
) -> list[RunResult]:
    """Train ``seeds`` and write the chunk's parquet and JSON atomically; return the results.

    The chunk checkpoints to ``<out>.ckpt`` every ``checkpoint_every`` seconds (None: never
    periodically) and, whatever that setting, when SIGTERM, SIGUSR1 or SIGINT arrives, at the end of
    the running hyperparameter window; it then raises :class:`onepass.training.checkpoint.Preempted`.
    Calling again with the same arguments resumes from the checkpoint, bit-identically on CPU;
    a checkpoint made from other data or initial weights is not resumed (the chunk restarts).
    Existing outputs are refused unless ``overwrite`` (another run's results are never replaced
    by accident).
    """
    if checkpoint_every is not None and not checkpoint_every > 0:
        raise ValueError(f"--checkpoint-every must be positive seconds (0 disables), got {checkpoint_every}")
    algorithm = get_algorithm(algorithm_name)
    config = build_config(dataset_config, overrides)
    resolved = resolve_config(config, algorithm)
    run_config = RunConfig.from_valid(resolved)  # build_config validated it: once per job, not per seed
    replaced = overridden_pinned_settings(algorithm, override_items(overrides))
    if replaced:
        print(f"warning: {algorithm_name} ignores {', '.join(replaced)}: it defines these", file=sys.stderr)
    parquet_path, json_path = output_paths(out)
    check_outputs(parquet_path, json_path, overwrite)
    check_writable(parquet_path.parent)
    if tensorboard_dir is not None:
        check_writable(Path(tensorboard_dir), "--tensorboard-dir")
    torch_device = resolve_device(device)
    data = prepare_data(run_config, data_dir, algorithm.keep_validation, torch_device)
    key = fingerprint(
        {"algorithm": algorithm_name, "seeds": list(seeds), "config": resolved, "init_weights": str(init_weights)}
    )
    inputs = input_digests(Path(data_dir) / run_config.dataset, init_weights)
    checkpointer = ChunkCheckpointer(
        checkpoint_path(parquet_path), key, checkpoint_every or math.inf, inputs=inputs, seeds=seeds
    )
    for output in (parquet_path, json_path):
        remove_stale_temps(output)
    make_run = partial(TrainingRun, run_config, algorithm, data=data, device=torch_device, init_weights=init_weights)
    label = f"{algorithm_name} seeds {seeds[0]}..{seeds[-1]}"
    results = _train_seeds(make_run, seeds, checkpointer, run_config.total_steps, tensorboard_dir, label, progress)
    frames = [r.frame for r in results if len(r.frame)]
    payload = {
        "algorithm": algorithm_name,
        "dataset": run_config.dataset,
        "experiment": experiment,
        "config": resolved,
        "environment": describe_machine(torch_device),
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
                    _resume(run, current, checkpointer.path)
                    current = None
                    bar.update(run.window * run.T)
                result = run.run(progress=bar.update, after_window=checkpointer.after_window)
                bar.update(steps_per_run - result.steps_completed)  # a diverged run's remaining steps
                results.append(result)
                checkpointer.finished_seed(result)
    finally:
        bar.close()
    return results


def _resume(run: TrainingRun, state: dict[str, Any], path: Path) -> None:
    """Restore the running seed from a checkpoint, refusing one whose state does not fit the run."""
    try:
        run.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as error:
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise ValueError(
            f"{path}: malformed checkpoint (the running seed's state does not fit this job: {detail}); "
            "delete it to start afresh"
        ) from None


def _progress_bar(description: str, total: int, enabled: bool) -> Any:
    """A tqdm bar on stderr, or a stand-in with the same two methods that shows nothing."""
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="step", mininterval=2.0, file=sys.stderr, disable=not enabled)


def check_outputs(parquet_path: Path, json_path: Path, overwrite: bool) -> None:
    """Fail before training when the outputs could not, or should not, be written.

    A folder in an output's place would fail only after the whole run; an existing output may be
    another run's result (another algorithm's, given the same --out by mistake), replaced only when
    the caller asks. (Snakemake removes a job's outputs before running it, so reruns need no flag.)
    """
    for path in (parquet_path, json_path):
        if path.is_dir():
            raise OutputError(f"{path}: is a folder, where the output file should be written")
    existing = [str(path) for path in (parquet_path, json_path) if path.exists() or path.is_symlink()]
    if existing and not overwrite:
        raise OutputError(f"{', '.join(existing)}: already exists; remove it or pass --overwrite to replace it")


def input_digests(dataset_folder: Path, init_weights: str | Path | None) -> dict[str, str]:
    """The sha256 of every input file a chunk's results depend on, by role, for the checkpoint key."""
    files = {"data.pt": dataset_folder / "data.pt", "targets.pt": dataset_folder / "targets.pt"}
    if init_weights is not None:
        if not Path(init_weights).is_file():
            raise ValueError(f"--init-weights {init_weights}: no such file")
        files["--init-weights"] = Path(init_weights)
    return {role: sha256_file(path) for role, path in files.items()}


def checkpoint_path(parquet_path: Path) -> Path:
    """``<chunk>.ckpt`` next to the chunk's outputs (not an output: Snakemake leaves it alone)."""
    return parquet_path.with_suffix(".ckpt")


def check_writable(folder: Path, what: str = "output folder") -> None:
    """Fail before training, not after hours of it, when the outputs cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".onepass-write-test-")
    except OSError as error:
        raise OutputError(f"{folder}: {what} is not writable ({error.strerror or error})") from None
    os.close(handle)
    with contextlib.suppress(OSError):  # a probe that cannot be removed must not hide the result
        os.unlink(probe)

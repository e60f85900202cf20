"""Load preprocessed datasets, split them as the paper did, and serve batches.

Splits are contiguous, as in the paper: the test set is the last ``test_size`` rows of the
stored tensor, the validation set the last ``rint(p * N)`` rows of what remains. Inputs (and UCI
targets) are standardised with statistics of the whole train+validation block. Data stays on the
training device as whole tensors; batches are index slices, which is much faster than a DataLoader
for these small per-step batches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .run_config import RunConfig, as_run_config
from .safe_load import UnsafeFileError, non_finite_count, safe_torch_load

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.247, 0.243, 0.261)


class DataError(FileNotFoundError):
    """A dataset file is missing or malformed; the message names the file and the fix."""


def load_tensors(data_dir: str | Path, dataset: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Load ``<data_dir>/<dataset>/{data,targets}.pt`` safely (``weights_only=True``)."""
    folder = Path(data_dir) / dataset
    out = []
    for name in ("data", "targets"):
        path = folder / f"{name}.pt"
        if not path.is_file():
            raise DataError(
                f"{path}: missing; build it with `snakemake {path}` "
                f"(or pass --data-dir pointing at a folder containing {dataset}/{name}.pt)"
            )
        try:
            tensor = safe_torch_load(path, "a tensor saved with torch.save")
        except UnsafeFileError as error:  # corrupt file, pickle refused, ...
            raise DataError(str(error)) from None
        if not isinstance(tensor, torch.Tensor):
            raise DataError(f"{path}: expected a single tensor, found {type(tensor).__name__}")
        if tensor.dim() == 0:
            raise DataError(f"{path}: a single number, expected one row per example")
        bad = non_finite_count(tensor)
        if bad:
            raise DataError(f"{path}: holds {bad} NaN or infinite values; rebuild it from the raw files")
        out.append(tensor)
    if out[0].shape[0] != out[1].shape[0]:
        raise DataError(f"{folder}: data.pt has {out[0].shape[0]} rows but targets.pt has {out[1].shape[0]}")
    return out[0], out[1]


def check_tensors(data: torch.Tensor, targets: torch.Tensor, config: RunConfig, folder: Path) -> None:
    """Refuse tensors that do not fit the dataset's declared shapes and the task's dtypes.

    A wrong file (another dataset's, a transposed or flattened one, a bool mask) would otherwise
    train, exit 0 and produce plausible-looking numbers.
    """
    task, shape = config.task, config.input_shape
    for name, tensor in (("data", data), ("targets", targets)):
        if tensor.dtype == torch.bool or tensor.is_complex():
            raise DataError(f"{folder / name}.pt: dtype {tensor.dtype} is not a dataset dtype (numbers expected)")
    if task == "language_model":
        expected = {"data": (data, 1, False), "targets": (targets, 1, False)}
    elif task == "classification":
        expected = {"data": (data, None, None), "targets": (targets, 1, False)}
    else:
        expected = {"data": (data, None, True), "targets": (targets, None, True)}
    for name, (tensor, dims, floating) in expected.items():
        where = f"{folder / name}.pt"
        if dims is not None and tensor.dim() != dims:
            raise DataError(f"{where}: shape {tuple(tensor.shape)}, expected a {dims}-D tensor for task {task}")
        if floating is True and not tensor.is_floating_point():
            raise DataError(f"{where}: dtype {tensor.dtype}, expected floating point for task {task}")
        if floating is False and tensor.is_floating_point():
            raise DataError(f"{where}: dtype {tensor.dtype}, expected integer ids or labels for task {task}")
    if task == "regression" and not (targets.dim() == 1 or (targets.dim() == 2 and targets.shape[1] == 1)):
        raise DataError(f"{folder / 'targets'}.pt: shape {tuple(targets.shape)}, expected (N,) or (N, 1)")
    if shape is not None and list(data.shape[1:]) != list(shape):
        raise DataError(
            f"{folder / 'data'}.pt: rows of shape {list(data.shape[1:])}, but {config.dataset} declares "
            f"input_shape {list(shape)}; rebuild it with `snakemake resources/data/{config.dataset}/data.pt`"
        )


def split_sizes(total: int, test_size: int, validation_proportion: float) -> tuple[int, int, int]:
    """(train, validation, test) sizes of the paper's contiguous split."""
    if test_size >= total:
        raise DataError(f"test_size {test_size} leaves no training data out of {total} rows")
    trainval = total - test_size
    val = int(round(validation_proportion * trainval))
    check_validation_rows(trainval, val, validation_proportion, "rows")
    return trainval - val, val, test_size


def check_validation_rows(trainval: int, val: int, validation_proportion: float, unit: str) -> None:
    """Refuse a validation_proportion that rounds to an empty validation or training split.

    Otherwise the run would train with no validation set while the config says it has one, and fail
    (or silently log nothing) much later with a message about missing validation losses.
    """
    if validation_proportion > 0 and val == 0:
        raise DataError(
            f"config key 'validation_proportion': {validation_proportion} of {trainval} train+validation "
            f"{unit} rounds to 0 validation {unit}; use at least {0.5 / trainval:.2g}"
        )
    if val >= trainval:
        raise DataError(
            f"config key 'validation_proportion': {validation_proportion} of {trainval} train+validation "
            f"{unit} leaves no training {unit}"
        )


@dataclass
class Split:
    """Inputs and targets of one split, already on the device and normalised."""

    inputs: torch.Tensor
    targets: torch.Tensor

    def __len__(self) -> int:
        return self.inputs.shape[0]


@dataclass
class PreparedData:
    """Everything the trainer needs from a dataset."""

    train: Split
    validation: Split | None
    test: Split
    in_features: int
    out_features: int
    target_std: float  # to report regression losses in original units
    batch_size: int | None
    streams: int


def _standardise(block: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = block.mean(dim=0)
    std = block.std(dim=0, unbiased=True)
    std = torch.where(std == 0, torch.ones_like(std), std)
    return mean, std


def prepare_data(
    config: RunConfig | Mapping[str, Any], data_dir: str | Path, keep_validation: bool, device: torch.device
) -> PreparedData:
    """Load, split and normalise a dataset according to ``config``.

    ``keep_validation=False`` (Random, Random_SteppedLR, Baydin) trains on train+validation.
    """
    config = as_run_config(config)
    data, targets = load_tensors(data_dir, config.dataset)
    check_tensors(data, targets, config, Path(data_dir) / config.dataset)
    if config.task == "language_model":
        return _prepare_language_model(config, data, keep_validation, device)
    n_train, n_val, _ = split_sizes(data.shape[0], config.test_size, config.validation_proportion)
    n_trainval = n_train + n_val
    x = data.reshape(data.shape[0], -1) if config.model.type == "mlp" else data
    x = _normalise_inputs(x.to(torch.float32), n_trainval, config.normalise_inputs)
    if config.task == "regression":
        y, target_std = _regression_targets(targets, n_trainval, config.normalise_outputs)
        out_features = y.shape[1]
    else:
        y, target_std = targets.to(torch.int64), 1.0
        # Both image datasets have ten classes even when a tiny test archive holds fewer.
        out_features = 10 if config.dataset in ("fashion_mnist", "cifar10") else int(y.max()) + 1
    x, y = x.to(device), y.to(device)
    if keep_validation:
        train = Split(x[:n_train], y[:n_train])
        validation = Split(x[n_train:n_trainval], y[n_train:n_trainval]) if n_val > 0 else None
    else:
        train, validation = Split(x[:n_trainval], y[:n_trainval]), None
    test = Split(x[n_trainval:], y[n_trainval:])
    in_features = x.shape[1] if x.dim() == 2 else int(torch.tensor(x.shape[1:]).prod())
    return PreparedData(train, validation, test, in_features, out_features, target_std, config.batch_size, 1)


def _normalise_inputs(x: torch.Tensor, n_trainval: int, norm: bool | str) -> torch.Tensor:
    """Standardise per feature on train+validation (true), or CIFAR-10's fixed statistics."""
    if norm is True:
        mean, std = _standardise(x[:n_trainval])
        return (x - mean) / std
    if norm in ("cifar_unscaled", "cifar_scaled"):
        if norm == "cifar_scaled":
            x = x / 255.0
        mean = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
        return (x - mean) / std
    return x


def _regression_targets(targets: torch.Tensor, n_trainval: int, normalise: bool) -> tuple[torch.Tensor, float]:
    """Targets as (N, outputs) float32, standardised by one scalar mean/std of train+validation."""
    y = targets.to(torch.float32).reshape(targets.shape[0], -1)
    if not normalise:
        return y, 1.0
    block = y[:n_trainval]
    y_mean, y_std = block.mean(), block.std(unbiased=True)
    y_std = y_std if y_std > 0 else torch.tensor(1.0)
    return (y - y_mean) / y_std, float(y_std)


def batchify(tokens: torch.Tensor, streams: int) -> torch.Tensor:
    """Cut a token stream into ``streams`` parallel columns, time-major ``(rows, streams)``."""
    rows = tokens.shape[0] // streams
    return tokens[: rows * streams].reshape(streams, rows).t().contiguous()


def _prepare_language_model(
    config: RunConfig, tokens: torch.Tensor, keep_validation: bool, device: torch.device
) -> PreparedData:
    streams = config.streams
    test_size = config.test_size
    if test_size >= tokens.shape[0]:
        raise DataError(f"test_size {test_size} tokens leaves no training tokens out of {tokens.shape[0]}")
    trainval = batchify(tokens[:-test_size].to(torch.int64), streams)
    test = batchify(tokens[-test_size:].to(torch.int64), streams)
    # Inputs are rows 0..R-2, targets the next rows; the split is on input rows, as in the paper.
    n_rows = trainval.shape[0] - 1
    n_val = int(round(config.validation_proportion * n_rows))
    check_validation_rows(n_rows, n_val, config.validation_proportion, "rows")
    n_train = n_rows - n_val

    def rows(block: torch.Tensor, start: int, stop: int) -> Split:
        return Split(block[start:stop].to(device), block[start + 1 : stop + 1].to(device))

    if keep_validation:
        train = rows(trainval, 0, n_train)
        validation = rows(trainval, n_train, n_rows) if n_val > 0 else None
    else:
        train, validation = rows(trainval, 0, n_rows), None
    vocab = config.model.vocab_size or int(tokens.max()) + 1
    return PreparedData(train, validation, rows(test, 0, test.shape[0] - 1), 0, vocab, 1.0, config.batch_size, streams)


class BatchStream:
    """An endless stream of minibatches over one split.

    Tabular data: shuffled each epoch with a seeded generator (drop_last False); a batch size that
    covers the split serves the whole split every time without copying. Language-model data:
    consecutive BPTT windows of ``batch_size`` rows; ``restarted`` tells the caller to clear the
    carried hidden state, as the paper's loaders did at every epoch restart.
    """

    def __init__(
        self, split: Split, batch_size: int | None, generator: torch.Generator | None, sequential: bool = False
    ):
        self.split = split
        self.n = len(split)
        self.batch_size = self.n if batch_size is None or batch_size >= self.n else batch_size
        self.generator = generator
        self.sequential = sequential
        self.order: torch.Tensor | None = None
        self.position = self.n  # forces a new epoch on first use
        self.restarted = False
        self.epoch = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "epoch": self.epoch,
            "order": None if self.order is None else self.order.cpu(),
            "generator": None if self.generator is None else self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.position, self.epoch = int(state["position"]), int(state["epoch"])
        self.order = None if state["order"] is None else state["order"].to(self.split.inputs.device)
        if self.generator is not None and state["generator"] is not None:
            self.generator.set_state(state["generator"])

    def next(self) -> Split:
        self.restarted = False
        if self.position >= self.n:
            self.position = 0
            self.epoch += 1
            self.restarted = True
            if not self.sequential and self.batch_size < self.n:
                assert self.generator is not None
                self.order = torch.randperm(self.n, generator=self.generator).to(self.split.inputs.device)
        start, stop = self.position, min(self.position + self.batch_size, self.n)
        self.position = stop
        if self.batch_size == self.n:
            return self.split
        if self.sequential:
            return Split(self.split.inputs[start:stop], self.split.targets[start:stop])
        assert self.order is not None
        index = self.order[start:stop]
        return Split(self.split.inputs[index], self.split.targets[index])

"""One training run (one seed) of one algorithm, following the paper's loop order.

Per hyperparameter window h and inner step k (global step s = h*T + k), as in the authors' code:
draw the training, validation and test batches; log the *pre-update* losses and the hyperparameters;
update the weights (the last update(s) of a window differentiably); at the end of the window the
hyperparameter optimiser steps, using the validation loss at the new weights on the same validation
batch as the window's last step. After the last window one more evaluation is logged at s = T*H.
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ..hypersgd.optimiser import HyperSGD
from ..records.scalars import ScalarLog, TensorBoardSink
from .algorithms import Algorithm, resolve_config
from .data import BatchStream, PreparedData, Split
from .initial import derive_seed, draw_initial, generator_for
from .models import build_model
from .tasks import Task, detach_hidden

TB_FLUSH_SECONDS = 10.0


@dataclass
class RunResult:
    """Summary and scalars of one run (one entry of the chunk JSON, rows of the chunk parquet)."""

    seed: int
    status: str
    diverged_at_step: int | None
    reason: str | None
    initial_hyperparameters: dict[str, float]
    final: dict[str, float]
    final_full_validation_loss: float | None
    train_seconds: float
    wall_seconds: float
    peak_memory_mb: float
    steps_completed: int
    frame: pd.DataFrame = field(repr=False)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "frame"}


def load_initial_weights(model: torch.nn.Module, path: str | Path, model_type: str) -> None:
    """Load ``--init-weights``: a state dict saved with ``torch.save``, read with ``weights_only``
    (a file carrying arbitrary pickled objects is refused, not executed)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"--init-weights {path}: no such file") from None
    except Exception as error:  # empty, truncated, not a torch file, or a pickle weights_only refuses
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise ValueError(f"--init-weights {path}: not a model state dict saved with torch.save ({detail})") from None
    if not isinstance(state, dict):
        raise ValueError(f"--init-weights {path}: holds a {type(state).__name__}, not a model state dict")
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:
        raise ValueError(f"--init-weights {path}: does not fit the {model_type} model ({error})") from None


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class TrainingRun:
    """Holds the whole state of one run, so it can be advanced window by window (and checkpointed)."""

    def __init__(
        self,
        config: dict[str, Any],
        algorithm: Algorithm,
        seed: int,
        data: PreparedData,
        device: torch.device,
        init_weights: str | Path | None = None,
        tensorboard_dir: str | Path | None = None,
    ) -> None:
        self.config = resolve_config(config, algorithm)
        self.algorithm = algorithm
        self.seed = seed
        self.data = data
        self.device = device
        cfg = self.config
        self.T, self.H = cfg["network_weight_steps"], cfg["hyperparameter_steps"]
        self.log_every = cfg["log_every"]
        self.language_model = cfg["task"] == "language_model"
        self.task = Task(cfg["task"], data.target_std, bptt=data.batch_size if self.language_model else None)
        self.initial = draw_initial(seed, cfg)

        # Weights: same seed -> same initial weights for every algorithm; the global RNG is restored.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(seed, "weights"))
            model = build_model(cfg, data.in_features, data.out_features)
        if init_weights is not None:
            load_initial_weights(model, init_weights, cfg["model"]["type"])
        self.model = model.to(device)
        self.model.train()
        # Toggling train/eval walks every submodule (costly at 4000 steps x 4 evaluations), and only
        # matters for BatchNorm/Dropout; other models skip it.
        self._mode_sensitive = any(
            isinstance(m, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.Dropout)) for m in self.model.modules()
        )
        self._training_mode = True

        clip = cfg["clipping"]["lr"]
        self.engine = HyperSGD(
            self.model,
            self.initial.lr,
            self.initial.weight_decay,
            self.initial.momentum,
            tune=algorithm.tune,
            method=algorithm.method,
            per_parameter_lr=algorithm.per_parameter_lr,
            update_interval=self.T,
            lookback=cfg["lookback"],
            hyper_lr=cfg["hyperparameter_optimiser"]["lr"],
            lr_clip=tuple(clip) if clip is not None else None,
            grad_clip_norm=cfg["grad_clip_norm"],
            baydin_lr=cfg["baydin_lr"],
        )
        self.initial_weights = (
            [p.detach().clone() for p in self.engine.params] if cfg["reset_weights_after_hyperparameter_step"] else None
        )

        # Data streams: independent seeded generators per split keep data order paired across algorithms.
        gen_device = "cpu"
        bs = data.batch_size
        seq = self.language_model
        self.train_stream = BatchStream(data.train, bs, generator_for(seed, "data/train", gen_device), sequential=seq)
        self.val_stream: BatchStream | None = None
        self.val_full = algorithm.full_batch_validation
        if algorithm.validation_from_training:
            self.val_stream = BatchStream(
                data.train, bs, generator_for(seed, "data/validation", gen_device), sequential=seq
            )
        elif data.validation is not None:
            val_bs = None if (self.val_full and not seq) else bs
            self.val_stream = BatchStream(
                data.validation, val_bs, generator_for(seed, "data/validation", gen_device), sequential=seq
            )
        self.hidden: dict[str, Any] = {"train": None, "validation": None}

        self.log = ScalarLog()
        self.tensorboard = TensorBoardSink(tensorboard_dir) if tensorboard_dir is not None else None
        self._last_flush = time.time()
        self.window = 0
        self.status = "ok"
        self.diverged_at_step: int | None = None
        self.reason: str | None = None
        self.train_seconds = 0.0
        self.wall_seconds = 0.0
        self._hp_summary = self._hyperparameter_summary()
        self.check_finite_every_step = device.type == "cpu"

    # ------------------------------------------------------------------ helpers
    def _hyperparameter_summary(self) -> dict[str, float]:
        hp = self.engine.hyperparameters
        out = {
            "Hyperparameter/Lr": hp["lr"],
            "Hyperparameter/Weight_Decay": hp["weight_decay"],
            "Hyperparameter/Momentum": hp["momentum"],
        }
        quantiles = self.engine.lr_quantiles()
        if quantiles is not None:
            for name, value in zip(("q05", "q50", "q95"), quantiles):
                out[f"Hyperparameter/Lr_{name}"] = value
        return out

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _set_mode(self, train: bool) -> None:
        if self._mode_sensitive and train != self._training_mode:
            self.model.train(train)
            self._training_mode = train

    def _validation_loss(self, batch: Split | None) -> float:
        """Pre-update validation loss for logging (NaN when the algorithm keeps no validation set)."""
        if self.val_stream is None or batch is None:
            return math.nan
        with torch.no_grad():
            self._set_mode(self.config["validation_in_train_mode"])
            if self.val_full and self.language_model:
                value = self.task.evaluate(self.model, self.val_stream.split)["Loss"]
            else:
                loss, hidden = self.task.loss(self.model, batch, self.hidden["validation"])
                self.hidden["validation"] = detach_hidden(hidden)
                value = float(loss)
            self._set_mode(True)
        return value

    def _test_metrics(self) -> dict[str, float]:
        self._set_mode(False)
        metrics = self.task.evaluate(self.model, self.data.test)
        self._set_mode(True)
        return {f"{name}/Test": value for name, value in metrics.items()}

    def _next_batches(self) -> tuple[Split, Split | None]:
        train = self.train_stream.next()
        if self.language_model and self.train_stream.restarted:
            self.hidden["train"] = None
        val = None
        if self.val_stream is not None:
            val = self.val_stream.next()
            if self.language_model and self.val_stream.restarted:
                self.hidden["validation"] = None
        return train, val

    def _flush_tensorboard(self, force: bool = False) -> None:
        if self.tensorboard is not None and (force or time.time() - self._last_flush > TB_FLUSH_SECONDS):
            self.tensorboard.flush(self.log)
            self._last_flush = time.time()

    # ------------------------------------------------------------------ the loop
    @property
    def finished(self) -> bool:
        return self.window >= self.H or self.status != "ok"

    def run_window(self) -> None:
        """Advance one hyperparameter window (T weight steps and one hyperparameter step)."""
        h = self.window
        # The hyperparameters in effect during this window: what `Last_*` logs at index h (the
        # authors' alignment: index 0 holds the initial values), before the window's own step changes them.
        in_effect = self._hp_summary
        started = time.perf_counter()
        eval_seconds = 0.0
        last_train_loss = math.nan
        for k in range(self.T):
            s = h * self.T + k
            train_batch, val_batch = self._next_batches()
            val_hidden_in = self.hidden["validation"]  # the window-end recompute reuses the batch's input state
            log_now = s % self.log_every == 0
            if log_now:
                self._sync()
                t0 = time.perf_counter()
                values = {"Loss/Validation": self._validation_loss(val_batch)}
                values.update(self._test_metrics())
                self._sync()
                eval_seconds += time.perf_counter() - t0
            hidden_in = self.hidden["train"]
            holder: dict[str, Any] = {}

            def train_loss(model, batch=train_batch, hidden=hidden_in, holder=holder):
                loss, new_hidden = self.task.loss(model, batch, hidden)
                holder["hidden"] = new_hidden
                return loss

            val_closure = None
            if val_batch is not None:

                def val_closure(model, batch=val_batch, hidden=val_hidden_in):
                    self._set_mode(True)  # the paper recomputes the validation loss in train mode
                    return self.task.loss(model, batch, hidden)[0]

            result = self.engine.step(train_loss, val_closure)
            if self.language_model:
                self.hidden["train"] = detach_hidden(holder.get("hidden"))
            if log_now or self.check_finite_every_step:
                last_train_loss = float(result.loss)
            if log_now:
                values["Loss/Training"] = last_train_loss
                values.update(self._hp_summary)
                self.log.add_many(s, values, time.time())
            if (log_now or self.check_finite_every_step) and not math.isfinite(last_train_loss):
                self._diverge(s, "non-finite training loss")
                break
            if result.hyperparameter_step:
                self._hp_summary = self._hyperparameter_summary()
                if not all(math.isfinite(v) for v in self._hp_summary.values()):
                    self._diverge(s + 1, "non-finite hyperparameters")
                    break
        self._sync()
        self.train_seconds += time.perf_counter() - started - eval_seconds
        if self.status != "ok":
            return
        self._end_window(h, last_train_loss, in_effect)

    def _end_window(self, h: int, last_train_loss: float, in_effect: dict[str, float]) -> None:
        if math.isnan(last_train_loss):
            last_train_loss = self.log.last("Loss/Training") or math.nan
        now = time.time()
        self.log.add("Last_Loss/Training", h, last_train_loss, now)
        for tag, value in in_effect.items():
            self.log.add(f"Last_{tag}", h, value, now)
        if self.algorithm.stepped_lr:
            self.engine.multiply_lr(self.initial.lr_multiplier)
            self._hp_summary = self._hyperparameter_summary()
        if self.initial_weights is not None and h < self.H - 1:
            with torch.no_grad():
                for p, w in zip(self.engine.params, self.initial_weights):
                    p.copy_(w)
        clip = self.config["clipping"]["lr"]
        if (
            h == 0
            and "lr" not in self.algorithm.tune
            and clip is not None
            and self.config["fail_on_unclipped_fixed_lr"]
            and not clip[0] <= math.log10(self.initial.lr) <= clip[1]
        ):
            self._diverge(self.T, f"fixed lr {self.initial.lr:.3g} outside clipping.lr {clip} (fidelity check)")
        self.window += 1
        self._flush_tensorboard()

    def _diverge(self, step: int, reason: str) -> None:
        self.status = "diverged"
        self.diverged_at_step = step
        self.reason = reason

    def final_evaluation(self) -> float | None:
        """Log the post-training entry at step T*H; return the full-validation loss (eval mode)."""
        s = self.T * self.H
        train_batch, val_batch = self._next_batches()
        with torch.no_grad():
            loss, _ = self.task.loss(self.model, train_batch, self.hidden["train"])
        values = {"Loss/Training": float(loss), "Loss/Validation": self._validation_loss(val_batch)}
        values.update(self._test_metrics())
        values.update(self._hp_summary)
        self.log.add_many(s, values, time.time())
        if self.data.validation is None or self.algorithm.validation_from_training:
            return None
        self._set_mode(False)
        full = self.task.evaluate(self.model, self.data.validation)["Loss"]
        self._set_mode(True)
        return full

    def run(
        self,
        progress: Callable[[int], None] | None = None,
        after_window: Callable[[TrainingRun], None] | None = None,
    ) -> RunResult:
        """Train to the end (or to divergence) and summarise.

        ``after_window`` is called at every window boundary, the only points where the whole state
        is plain tensors (no graph), which is where checkpoints are taken.
        """
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        while not self.finished:
            started = time.perf_counter()
            self.run_window()
            self.wall_seconds += time.perf_counter() - started
            if progress is not None:
                progress(self.T)
            if after_window is not None and not self.finished:
                after_window(self)
        started = time.perf_counter()
        full_validation = None
        if self.status == "ok":
            full_validation = self.final_evaluation()
        self.wall_seconds += time.perf_counter() - started
        if self.tensorboard is not None:
            self.tensorboard.close(self.log)
        return self.result(full_validation)

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        """The complete state at a window boundary, as tensors and plain Python values only.

        Everything that influences later steps is here (weights and BatchNorm buffers, momentum
        buffers, hyperparameters and Adam state, data order and positions, RNN hidden states, RNG
        states), so a resumed run continues bit-identically on CPU; the scalar log comes along so
        nothing logged before the interruption is lost. Loadable with ``weights_only=True``.
        """
        return {
            "seed": self.seed,
            "algorithm": self.algorithm.name,
            "window": self.window,
            "status": self.status,
            "diverged_at_step": self.diverged_at_step,
            "reason": self.reason,
            "train_seconds": self.train_seconds,
            "wall_seconds": self.wall_seconds,
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "engine": _to_cpu(self.engine.state_dict()),
            "initial_weights": None
            if self.initial_weights is None
            else [w.cpu().clone() for w in self.initial_weights],
            "streams": {
                "train": self.train_stream.state_dict(),
                "validation": None if self.val_stream is None else self.val_stream.state_dict(),
            },
            "hidden": {k: None if v is None else [h.cpu().clone() for h in v] for k, v in self.hidden.items()},
            "torch_rng": torch.get_rng_state(),
            "log": self.log.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` output (the run must be built with the same settings)."""
        if state["seed"] != self.seed or state["algorithm"] != self.algorithm.name:
            raise ValueError(
                f"checkpoint is for {state['algorithm']} seed {state['seed']}, "
                f"not {self.algorithm.name} seed {self.seed}"
            )
        self.window = int(state["window"])
        self.status, self.diverged_at_step, self.reason = state["status"], state["diverged_at_step"], state["reason"]
        self.train_seconds, self.wall_seconds = float(state["train_seconds"]), float(state["wall_seconds"])
        self.model.load_state_dict(state["model"])
        self.engine.load_state_dict(_to_device(state["engine"], self.device))
        if state["initial_weights"] is not None:
            self.initial_weights = [w.to(self.device) for w in state["initial_weights"]]
        self.train_stream.load_state_dict(state["streams"]["train"])
        if self.val_stream is not None:
            self.val_stream.load_state_dict(state["streams"]["validation"])
        self.hidden = {
            k: None if v is None else tuple(h.to(self.device) for h in v) for k, v in state["hidden"].items()
        }
        torch.set_rng_state(state["torch_rng"])
        self.log.load_state_dict(state["log"])
        if self.tensorboard is not None:
            self.tensorboard.skip_logged(self.log)
        self._hp_summary = self._hyperparameter_summary()

    def result(self, full_validation: float | None) -> RunResult:
        final = (
            self.log.last_finite()
            if self.status != "ok"
            else {t: v[-1] for t, v in self.log.values.items() if not t.startswith("Last_")}
        )
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak, KiB on Linux
        steps = self.diverged_at_step if self.diverged_at_step is not None else self.T * self.H
        return RunResult(
            seed=self.seed,
            status=self.status,
            diverged_at_step=self.diverged_at_step,
            reason=self.reason,
            initial_hyperparameters=self.initial.as_dict(),
            final=final,
            final_full_validation_loss=_finite_or_none(full_validation),
            train_seconds=self.train_seconds,
            wall_seconds=self.wall_seconds,
            peak_memory_mb=peak,
            steps_completed=steps,
            frame=self.log.to_frame(self.seed),
        )


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_device(v, device) for v in value)
    return value

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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from ..records.scalars import ScalarLog, TensorBoardSink
from .algorithms import Algorithm, is_resolved, resolve_config
from .data import PreparedData, Split
from .models import Task, detach_hidden
from .parts import build_engine, build_streams, draw_initial, hyperparameter_summary, initial_model, is_mode_sensitive
from .result import RunResult, finite_or_none
from .run_config import RunConfig
from .run_state import restore_run, run_state

__all__ = ["RunResult", "TrainingRun"]

TB_FLUSH_SECONDS = 10.0


def _run_config(config: RunConfig | Mapping[str, Any], algorithm: Algorithm) -> RunConfig:
    """The run's typed settings. A chunk passes the :class:`RunConfig` it validated once for all
    its seeds (it must already be resolved for ``algorithm``); a document (one run started by hand,
    a baseline's trial) is resolved, validated and typed here."""
    if isinstance(config, RunConfig):
        if not is_resolved(config, algorithm):
            raise ValueError(
                f"TrainingRun: the RunConfig is not resolved for {algorithm.name}; pass "
                "resolved_run_config(config, algorithm) or the configuration document"
            )
        return config
    return RunConfig.from_mapping(resolve_config(config, algorithm))


class TrainingRun:
    """Holds the whole state of one run, so it can be advanced window by window (and checkpointed)."""

    def __init__(
        self,
        config: RunConfig | Mapping[str, Any],
        algorithm: Algorithm,
        seed: int,
        data: PreparedData,
        device: torch.device,
        init_weights: str | Path | None = None,
        tensorboard_dir: str | Path | None = None,
    ) -> None:
        self.config = _run_config(config, algorithm)
        self.algorithm = algorithm
        self.seed = seed
        self.data = data
        self.device = device
        cfg = self.config
        self.T, self.H = cfg.update_interval, cfg.hyperparameter_steps
        self.log_every = cfg.log_every
        self.language_model = cfg.task == "language_model"
        self.task = Task(cfg.task, data.target_std, bptt=data.batch_size if self.language_model else None)
        self.initial = draw_initial(seed, cfg)
        self.model = initial_model(cfg, seed, data, init_weights).to(device)
        self.model.train()
        # Toggling train/eval walks every submodule (costly at 4000 steps x 4 evaluations), and only
        # matters for BatchNorm/Dropout; other models skip it.
        self._mode_sensitive = is_mode_sensitive(self.model)
        self._training_mode = True
        self.engine = build_engine(cfg, algorithm, self.initial, self.model)
        self.initial_weights = (
            [p.detach().clone() for p in self.engine.params] if cfg.reset_weights_after_hyperparameter_step else None
        )
        self.train_stream, self.val_stream = build_streams(algorithm, seed, data, self.language_model)
        self.val_full = algorithm.full_batch_validation
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
        return hyperparameter_summary(self.engine)

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
            self._set_mode(self.config.validation_in_train_mode)
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
        clip = self.config.lr_clip
        if (
            h == 0
            and "lr" not in self.algorithm.tune
            and clip is not None
            and self.config.fail_on_unclipped_fixed_lr
            and not clip[0] <= math.log10(self.initial.lr) <= clip[1]
        ):
            self._diverge(self.T, f"fixed lr {self.initial.lr:.3g} outside lr_clip {clip} (fidelity check)")
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
        """The complete state at a window boundary (see :func:`onepass.training.run_state.run_state`)."""
        return run_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` output (the run must be built with the same settings)."""
        restore_run(self, state)

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
            final_full_validation_loss=finite_or_none(full_validation),
            train_seconds=self.train_seconds,
            wall_seconds=self.wall_seconds,
            peak_memory_mb=peak,
            steps_completed=steps,
            frame=self.log.to_frame(self.seed),
        )

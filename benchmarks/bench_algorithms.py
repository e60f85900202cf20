"""Seconds per full UCI Energy run (4000 steps, every-step logging) per algorithm, and ratio to Random.

Run by hand (``make bench`` or ``python benchmarks/bench_algorithms.py --data-dir resources/data``);
all algorithms are timed in one invocation so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import time

import torch

from onepass.training.algorithms import ALGORITHMS, get_algorithm
from onepass.training.config import build_config
from onepass.training.data import prepare_data
from onepass.training.run import TrainingRun

# The nine algorithms of the main experiments: all but the Long Diff-through-Opt settings.
MAIN = [name for name, algorithm in ALGORITHMS.items() if not algorithm.track_whole_window]


def time_run(name: str, data_dir: str, seed: int, threads: int) -> tuple[float, float]:
    torch.set_num_threads(threads)
    algorithm = get_algorithm(name)
    config = build_config("uci_energy", {"lr": 1e-3, "weight_decay": 1e-5, "momentum": 0.5})
    data = prepare_data(config, data_dir, algorithm.keep_validation, torch.device("cpu"))
    start = time.perf_counter()
    result = TrainingRun(config, algorithm, seed, data, torch.device("cpu")).run()
    return time.perf_counter() - start, result.train_seconds


def _mean_seconds(fn, repeats: int = 2000) -> float:
    for _ in range(100):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def hypergradient_floor(data_dir: str, threads: int, random_seconds: float) -> None:
    """The part of a one-pass window no implementation can skip, timed on the same model and data.

    Per window of T steps, Ours needs ``lookback - 1`` Hessian-vector products and one validation
    gradient on top of T ordinary steps. Their cost relative to a whole Random run (which includes
    the every-step evaluation) is a lower bound on the ratio, before any bookkeeping.
    """
    torch.set_num_threads(threads)
    config = build_config("uci_energy", {"lr": 1e-3, "weight_decay": 1e-5, "momentum": 0.5})
    data = prepare_data(config, data_dir, True, torch.device("cpu"))
    run = TrainingRun(config, get_algorithm("Ours_LR"), 0, data, torch.device("cpu"))
    params = run.engine.params
    train, validation = data.train, data.validation
    assert validation is not None
    before = [p.detach().clone().requires_grad_() for p in params]
    with run.engine._slots.holding(before):
        loss = run.task.loss(run.model, train)[0]
    grads = torch.autograd.grad(loss, before, create_graph=True)
    vector = [torch.randn_like(p) for p in params]
    hvp = _mean_seconds(lambda: torch.autograd.grad(grads, before, grad_outputs=vector, retain_graph=True))
    val_grad = _mean_seconds(lambda: torch.autograd.grad(run.task.loss(run.model, validation)[0], params))
    windows, lookback = config["hyperparameter_steps"], config["lookback"]
    floor = 1 + windows * ((lookback - 1) * hvp + val_grad) / random_seconds
    print(
        f"\nfloor: one HVP {hvp * 1e6:.0f} us, one validation gradient {val_grad * 1e6:.0f} us; "
        f"{windows} windows x ({lookback - 1} HVPs + 1 validation gradient) alone make Ours >= {floor:.2f}x Random"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default="resources/data")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the best of each is kept")
    parser.add_argument("--algorithms", nargs="*", default=MAIN, choices=list(ALGORITHMS))
    parser.add_argument("--no-floor", action="store_true", help="skip timing the unavoidable hypergradient work")
    args = parser.parse_args()
    # Round-robin repeats, best of each: drift in machine load then hits every algorithm alike.
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in args.algorithms}
    for _ in range(args.repeats):
        for name in args.algorithms:
            timings[name].append(time_run(name, args.data_dir, 0, args.threads))
    rows = [(name, *min(times, key=lambda t: t[0])) for name, times in timings.items()]
    base = dict((r[0], r[1]) for r in rows).get("Random")
    print(f"{'algorithm':22s} {'wall s':>8s} {'train s':>8s} {'x Random':>9s}")
    for name, wall, train in rows:
        ratio = f"{wall / base:9.2f}" if base else "        -"
        print(f"{name:22s} {wall:8.2f} {train:8.2f} {ratio}")
    if base and not args.no_floor:
        hypergradient_floor(args.data_dir, args.threads, base)


if __name__ == "__main__":
    main()

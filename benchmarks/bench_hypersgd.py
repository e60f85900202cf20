"""Peak memory and per-step cost of HyperSGD against torch.optim.SGD, on four kinds of model.

For an MLP, a CNN, an LSTM and a Transformer, each optimiser trains the same model on the same
fixed batches for a few windows (T = 10, i = 5, the paper's settings): ``torch.optim.SGD``, HyperSGD
with the default method and with ``method="exact"``. Reported per model: mean seconds per step over
whole windows, peak memory above the model and data, and both as ratios to SGD measured in the same
run. Peak memory is ``torch.cuda.max_memory_allocated`` on a GPU; on a CPU it is the peak resident
set size of a fresh process per measurement (``ru_maxrss``) above its size after the setup. The
Hessian-vector product's cost is the extra time of a window over T SGD steps, divided by ``i - 1``,
in units of one SGD step (an upper bound: the window's validation gradient is in it too).

    python benchmarks/bench_hypersgd.py --device cuda --out bench_hypersgd.md
    python benchmarks/bench_hypersgd.py --device cpu --batch-size 16 --windows 1 --models LSTM
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from onepass import HyperSGD

T, LOOKBACK = 10, 5


class Recurrent(nn.Module):
    def __init__(self, vocab: int = 2000, width: int = 512) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.lstm = nn.LSTM(width, width, num_layers=2, batch_first=True)
        self.head = nn.Linear(width, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(self.embed(x))[0])


class Transformer(nn.Module):
    def __init__(self, vocab: int = 2000, width: int = 256) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        layer = nn.TransformerEncoderLayer(width, 8, 4 * width, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 4, enable_nested_tensor=False)
        self.head = nn.Linear(width, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x), is_causal=False))


def problems(device: str) -> dict[str, tuple[Callable[[], nn.Module], Callable[[int], tuple]]]:
    """Model factories and batch makers; losses are cross-entropy over classes or tokens."""
    g = torch.Generator().manual_seed(0)

    def images(c: int, s: int):
        return lambda n: (torch.randn(n, c, s, s, generator=g), torch.randint(0, 10, (n,), generator=g))

    def tokens(n: int):
        x = torch.randint(0, 2000, (n, 35), generator=g)
        return x, torch.roll(x, -1, 1)

    return {
        "MLP (21M)": (
            lambda: nn.Sequential(nn.Flatten(), nn.Linear(3072, 4096), nn.ReLU(), nn.Linear(4096, 2048), nn.ReLU(),
                                  nn.Linear(2048, 10)),
            images(3, 32),
        ),
        "CNN (BatchNorm)": (
            lambda: nn.Sequential(
                nn.Conv2d(3, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(128 * 8 * 8, 10),
            ),
            images(3, 32),
        ),
        "LSTM (2x512)": (Recurrent, tokens),
        "Transformer (4x256)": (Transformer, tokens),
    }  # fmt: skip


def loss_of(model: nn.Module, batch: tuple) -> torch.Tensor:
    x, y = batch
    out = model(x)
    return nn.functional.cross_entropy(out.flatten(0, -2) if out.dim() > 2 else out, y.flatten())


def measure(kind: str, build, make_batch, device: str, windows: int, batch_size: int) -> tuple[float, float | None]:
    torch.manual_seed(0)
    model = build().to(device)
    batches = [tuple(t.to(device) for t in make_batch(batch_size)) for _ in range(T + 1)]
    cuda = device.startswith("cuda")
    if kind == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.5, weight_decay=1e-4)

        def step(s: int) -> None:
            opt.zero_grad()
            loss_of(model, batches[s % T]).backward()
            opt.step()
    else:
        hyper = HyperSGD(model, 1e-3, 1e-4, 0.5, method=kind, update_interval=T, lookback=LOOKBACK)

        def step(s: int) -> None:
            b, v = batches[s % T], batches[T]
            hyper.step(lambda m: loss_of(m, b), lambda m: loss_of(m, v))

    for s in range(T):  # warm-up window
        step(s)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    start = time.perf_counter()
    for s in range(T * windows):
        step(s)
    if cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / (T * windows)
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20 if cuda else None
    return seconds, peak


def measure_in_process(kind: str, label: str, args: argparse.Namespace) -> tuple[float, float]:
    """``measure`` in a fresh process, so that a CPU's peak resident memory belongs to one optimiser."""
    command = [sys.executable, __file__, "--one", kind, label, "--device", args.device,
               "--windows", str(args.windows), "--batch-size", str(args.batch_size)]  # fmt: skip
    result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    return result["seconds"], result["peak_mib"]


def one(kind: str, label: str, args: argparse.Namespace) -> None:
    build, make_batch = problems(args.device)[label]
    if args.device.startswith("cuda"):
        seconds, peak = measure(kind, build, make_batch, args.device, args.windows, args.batch_size)
    else:
        torch.manual_seed(0)
        warm = build()  # the setup's own memory: model, data, torch's libraries
        del warm
        setup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        seconds, _ = measure(kind, build, make_batch, args.device, args.windows, args.batch_size)
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - setup) / 1024
    print(json.dumps({"seconds": seconds, "peak_mib": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", default=None, help="also write the markdown table here")
    parser.add_argument("--one", nargs=2, metavar=("KIND", "MODEL"), help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--models", nargs="*", default=None, help="only the models whose label contains one of these")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.one:
        one(*args.one, args)
        return
    cuda = args.device.startswith("cuda")
    name = torch.cuda.get_device_name() if cuda else f"CPU ({torch.get_num_threads()} threads)"
    rows = [
        f"Device: {name}; torch {torch.__version__}; batch {args.batch_size}; T={T}, i={LOOKBACK}; "
        f"{args.windows} windows after one warm-up window.",
        "",
        "| model | SGD ms/step | default: time x SGD | default: peak memory x SGD | exact: time x SGD "
        "| exact: peak memory x SGD | one HVP, in SGD steps |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = [label for label in problems(args.device) if not args.models or any(m in label for m in args.models)]
    for label in labels:
        results = {k: measure_in_process(k, label, args) for k in ("sgd", "neumann", "exact")}
        sgd_s, sgd_m = results["sgd"]
        cells = [label, f"{sgd_s * 1e3:.2f}"]
        for k in ("neumann", "exact"):
            s, m = results[k]
            cells += [f"{s / sgd_s:.2f}", f"{m / sgd_m:.2f}"]
        hvp = (results["neumann"][0] * T - sgd_s * T) / sgd_s / (LOOKBACK - 1)
        cells.append(f"{hvp:.2f}")
        rows.append("| " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    table = "\n".join(rows)
    print(table)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(table + "\n")


if __name__ == "__main__":
    main()

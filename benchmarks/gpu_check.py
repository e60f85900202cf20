"""GPU check: seconds per step and peak GPU memory of the large-scale models per algorithm.

One prepared run for a machine with a GPU: a few hundred steps of
Random, Ours_LR_Momentum, Ours_HDLR_Momentum and DiffThroughOpt on ResNet-18 (CIFAR-shaped random
data, batch 100) and on the PTB LSTM (random tokens, 70 x 40 streams), all timed in one invocation.

    python benchmarks/gpu_check.py --device cuda --steps 200
    python benchmarks/gpu_check.py --device cpu --steps 4 --tiny     # a smoke run without a GPU
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from onepass.hypersgd.optimiser import HyperSGD
from onepass.training.algorithms import get_algorithm
from onepass.training.models import LSTMLanguageModel

ALGORITHMS = ["Random", "Ours_LR_Momentum", "Ours_HDLR_Momentum", "DiffThroughOpt"]


def resnet_problem(device: torch.device, tiny: bool):
    from torchvision.models import resnet18

    batch = 4 if tiny else 100
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(2, batch, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, 10, (2, batch), generator=g).to(device)
    model = resnet18(num_classes=10).to(device)

    def losses(step: int):
        i, j = step % 2, (step + 1) % 2
        return (lambda m: F.cross_entropy(m(x[i]), y[i])), (lambda m: F.cross_entropy(m(x[j]), y[j]))

    return model, losses, None


def lstm_problem(device: torch.device, tiny: bool):
    vocab, size, seq, streams = (100, 16, 7, 4) if tiny else (10000, 650, 70, 40)
    g = torch.Generator(device="cpu").manual_seed(0)
    tokens = torch.randint(0, vocab, (2, seq + 1, streams), generator=g).to(device)
    model = LSTMLanguageModel(vocab, size, size, 2).to(device)

    def loss_on(batch):
        def loss(m):
            logits, _ = m(tokens[batch, :-1])
            return F.cross_entropy(logits.reshape(-1, vocab), tokens[batch, 1:].reshape(-1))

        return loss

    def losses(step: int):
        return loss_on(step % 2), loss_on((step + 1) % 2)

    return model, losses, 0.25


def measure(problem, name: str, device: torch.device, steps: int, tiny: bool) -> tuple[float, float]:
    torch.manual_seed(0)
    model, losses, clip = problem(device, tiny)
    algorithm = get_algorithm(name)
    opt = HyperSGD(
        model, 1e-3, 1e-5, 0.5, tune=algorithm.tune, method=algorithm.method,
        per_parameter_lr=algorithm.per_parameter_lr, update_interval=10, lookback=5, grad_clip_norm=clip,
    )  # fmt: skip
    warmup = min(10, steps)
    for step in range(warmup):
        opt.step(*losses(step))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for step in range(steps):
        opt.step(*losses(step))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) / 2**30
    else:
        peak = float("nan")
    return (time.perf_counter() - start) / steps, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per algorithm (a multiple of 10)")
    parser.add_argument("--tiny", action="store_true", help="tiny models and batches (smoke test)")
    parser.add_argument("--models", nargs="*", default=["resnet18", "lstm"], choices=["resnet18", "lstm"])
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)
    print(f"device: {name}, torch {torch.__version__}")
    print(f"{'model':9s} {'algorithm':20s} {'s/step':>9s} {'x Random':>9s} {'peak GiB':>9s}")
    problems = {"resnet18": resnet_problem, "lstm": lstm_problem}
    for model_name in args.models:
        base = None
        for name in ALGORITHMS:
            seconds, peak = measure(problems[model_name], name, device, args.steps, args.tiny)
            base = base or seconds
            print(f"{model_name:9s} {name:20s} {seconds:9.4f} {seconds / base:9.2f} {peak:9.2f}", flush=True)


if __name__ == "__main__":
    main()

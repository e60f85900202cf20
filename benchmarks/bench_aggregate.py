"""Benchmark: aggregate 10,000 synthetic runs of 400 logged points each.

The paper's TensorBoard-parsing step took tens of minutes for an experiment of this size (the
Sensitivity study: 100 cells x 100 seeds). This writes the same volume as training chunks
(`--chunks` files of `--runs / --chunks` seeds, `--tags` tags logged at `--points` steps, plus the
`Last_*` tags once per hyperparameter step), then times `onepass.records.aggregate.aggregate` on them.

    python benchmarks/bench_aggregate.py              # 10,000 runs x 400 points, prints seconds
    python benchmarks/bench_aggregate.py --runs 1000  # smaller
Files go to benchmarks/out/ (git-ignored) unless --workdir is given.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from onepass.records.aggregate import aggregate

TAGS = [
    "Loss/Training",
    "Loss/Validation",
    "Loss/Test",
    "Unnormalised_Loss/Test",
    "Hyperparameter/Lr",
    "Hyperparameter/Weight_Decay",
    "Hyperparameter/Momentum",
]


def write_chunk(stem: Path, seeds: range, points: int, tags: list[str], algorithm: str, rng) -> int:
    """Write one synthetic chunk (parquet + json) in the training CLI's format; returns its rows."""
    n_seeds, n_tags = len(seeds), len(tags)
    seed = np.repeat(np.asarray(seeds, dtype=np.int32), points * n_tags)
    step = np.tile(np.repeat(np.arange(points, dtype=np.int32) * 10, n_tags), n_seeds)
    tag_index = np.tile(np.arange(n_tags, dtype=np.int32), n_seeds * points)
    value = rng.lognormal(size=seed.size)
    wall_time = 1.7e9 + np.arange(seed.size, dtype=np.float64) * 1e-3
    table = pa.table(
        {
            "seed": seed,
            "step": step,
            "tag": pa.DictionaryArray.from_arrays(tag_index, pa.array(tags)),
            "value": value,
            "wall_time": wall_time,
        }
    )
    pq.write_table(table, stem.with_suffix(".parquet"))
    runs = [
        {
            "seed": s,
            "status": "ok",
            "diverged_at_step": None,
            "reason": None,
            "initial_hyperparameters": {
                "lr": 0.01, "weight_decay": 1e-4, "momentum": 0.5, "lr_multiplier": 1.0
            },
            "final": {tag: 1.0 for tag in tags},
            "final_full_validation_loss": None,
            "train_seconds": 1.0,
            "wall_seconds": 1.5,
            "peak_memory_mb": 100.0,
            "steps_completed": points * 10,
        }
        for s in seeds
    ]
    summary = {
        "algorithm": algorithm, "dataset": "uci_energy", "experiment": "bench", "config": {}, "runs": runs
    }
    stem.with_suffix(".json").write_text(json.dumps(summary))
    return table.num_rows


def main() -> None:
    """Generate the synthetic experiment, aggregate it and print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=400)
    parser.add_argument("--chunks", type=int, default=100, help="chunk files (e.g. 100 cells of 100 seeds)")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out" / "aggregate")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic files")
    args = parser.parse_args()

    runs_dir = args.workdir / "runs"
    shutil.rmtree(args.workdir, ignore_errors=True)
    rng = np.random.default_rng(0)
    algorithms = ["Random", "Ours_LR_Momentum"]
    per_chunk = -(-args.runs // args.chunks)
    rows = 0
    files = []
    start = time.perf_counter()
    for k in range(args.chunks):
        seeds = range(k * per_chunk, min((k + 1) * per_chunk, args.runs))
        if not seeds:
            break
        algorithm = algorithms[k % len(algorithms)]
        folder = runs_dir / algorithm
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / f"seeds{seeds.start:05d}-{seeds.stop - 1:05d}"
        rows += write_chunk(stem, seeds, args.points, TAGS, algorithm, rng)
        files += [stem.with_suffix(".parquet"), stem.with_suffix(".json")]
    generated = time.perf_counter() - start

    start = time.perf_counter()
    counts = aggregate(files, "bench", args.workdir / "bench.parquet", args.workdir / "bench_final.csv")
    seconds = time.perf_counter() - start
    print(f"synthetic input: {args.runs} runs x {args.points} points x {len(TAGS)} tags = {rows:,} rows "
          f"in {len(files) // 2} chunks (generated in {generated:.1f} s)")
    print(f"aggregated {counts['runs']} runs, {counts['rows']:,} rows in {seconds:.2f} s")
    if not args.keep:
        shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

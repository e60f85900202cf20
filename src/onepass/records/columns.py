"""The column names of the scalar tables, defined once (docs/CONTRACTS.md, "Chunk outputs" and
"Aggregated outputs").

Every writer and reader of a chunk table (a training chunk, a BayesOpt repetition, a Ray search
made chunk-shaped), of an aggregated ``results/scalars/<exp>.parquet`` and of a ``_final.csv`` takes
its names from here, so a column is renamed in one place. Standard library only: the analysis and
the baselines import it without pulling in pyarrow.
"""

from __future__ import annotations

#: Columns of a chunk table, in order, with their Arrow types (the tag is dictionary-encoded).
CHUNK_COLUMNS = ("seed", "step", "tag", "value", "wall_time")
CHUNK_TYPES = {"seed": "int32", "step": "int32", "tag": "string", "value": "float64", "wall_time": "float64"}

#: The optional key of a run within a seed: a BayesOpt repetition (seed) holds several trials.
TRIAL = "trial"

#: Column order of the aggregated long table: the chunk columns after the algorithm (then `trial`
#: where the runs have one).
SCALARS_COLUMNS = ["algorithm", *CHUNK_COLUMNS]

#: Leading columns of the final CSV (one row per run), before one column per final tag and the
#: `best:` columns; `trial` follows `seed` where the runs have one.
FINAL_COLUMNS = [
    "experiment",
    "algorithm",
    "seed",
    "status",
    "diverged_at_step",
    "steps_completed",
    "train_seconds",
    "wall_seconds",
    "peak_memory_mb",
    "init_lr",
    "init_weight_decay",
    "init_momentum",
    "init_lr_multiplier",
    "final_full_validation_loss",
]

#: Prefix of the final CSV's "minimum over all logged steps" columns: `best:<tag>`.
BEST_PREFIX = "best:"

#: A tag whose name (without `Last_`) starts with one of these is a loss and gets a `best:` column.
BEST_TAG_PREFIXES = ("Loss/", "Unnormalised_Loss/", "Perplexity/")


def is_best_tag(tag: str) -> bool:
    """Whether the tables want the minimum over steps of this tag (losses and perplexities)."""
    return tag.removeprefix("Last_").startswith(BEST_TAG_PREFIXES)


def best_column(tag: str) -> str:
    """The final CSV's column holding the minimum over steps of ``tag``."""
    return f"{BEST_PREFIX}{tag}"


def run_keys(has_trials: bool) -> list[str]:
    """The columns that identify one run: algorithm and seed, and the trial where runs have one."""
    return ["algorithm", "seed", TRIAL] if has_trials else ["algorithm", "seed"]


def final_leading(has_trials: bool) -> list[str]:
    """The final CSV's leading columns: :data:`FINAL_COLUMNS`, with `trial` after `seed` if any."""
    if not has_trials:
        return list(FINAL_COLUMNS)
    return [*FINAL_COLUMNS[:3], TRIAL, *FINAL_COLUMNS[3:]]

"""Seed numbers: what `--seeds` and a config's `seeds` may hold, checked where they are read.

Seeds end up in int32 columns (chunk tables, checkpoints), and a seed count becomes a list of
chunks at plan time; an unbounded number either overflows after the whole run has trained or
makes the dry run allocate without end. Both limits are far above any real experiment (the paper
runs 200 seeds).
"""

from __future__ import annotations

# Largest seed: seeds are stored as int32.
MAX_SEED = 2**31 - 1
# Most seeds one chunk (`--seeds`) or one experiment (`seeds` in a config) may hold.
MAX_SEEDS = 100_000


def parse_seeds(text: str) -> list[int]:
    """Parse ``"0-19"``, ``"0,3,5"``, ``"7"`` or combinations like ``"0-4,10"``.

    Each seed must lie in [0, MAX_SEED] and the list hold at most MAX_SEEDS seeds; ranges are
    measured before they are expanded, so `0-99999999999` fails at once instead of filling memory.
    """
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
                _check_bounds(start, stop, len(seeds))
                seeds.extend(range(start, stop + 1))
            else:
                _check_bounds(int(part), int(part), len(seeds))
                seeds.append(int(part))
        except ValueError as error:
            if str(error).startswith("--seeds"):
                raise
            raise ValueError(f"--seeds: cannot parse '{part}'; use e.g. 0-19, 0,3,5 or 7") from None
    if not seeds:
        raise ValueError("--seeds: no seeds given")
    if len(set(seeds)) != len(seeds):
        raise ValueError("--seeds: duplicate seeds")
    return seeds


def _check_bounds(start: int, stop: int, already: int) -> None:
    if start < 0:
        raise ValueError("--seeds: seeds must be non-negative")
    if stop > MAX_SEED:
        raise ValueError(f"--seeds: seed {stop} is larger than {MAX_SEED} (seeds are stored as 32-bit integers)")
    if already + stop - start + 1 > MAX_SEEDS:
        raise ValueError(f"--seeds: more than {MAX_SEEDS} seeds in one chunk; split them into several chunks")

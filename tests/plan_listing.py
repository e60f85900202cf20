"""The jobs of a dry run as plain text: one line per job, ``outputs <- inputs``, sorted.

Refactors of the planning must plan the same jobs: ``tests/reference/paper_plan.txt.gz`` holds this
listing for ``config/paper.yaml`` as the planning code produced it before the issue-20 refactor,
and ``tests/test_workflow_dryrun.py`` compares today's plan with it. Rule names and resources are
left out on purpose: merging two rules that write the same files, or giving a job resources it
lacked, changes neither what is computed nor from what.
"""

from __future__ import annotations

import gzip
from pathlib import Path

REFERENCE_PAPER_PLAN = Path(__file__).resolve().parent / "reference" / "paper_plan.txt.gz"


def plan_listing(dry_run_output: str) -> list[str]:
    """Parse Snakemake's verbose ``-n`` output (``rule X:`` blocks) into sorted job lines."""
    jobs: list[str] = []
    current: dict[str, list[str]] | None = None
    for line in dry_run_output.splitlines():
        if line.startswith(("rule ", "localrule ")) and line.rstrip().endswith(":"):
            if current is not None:
                jobs.append(_job_line(current))
            current = {"input": [], "output": []}
        elif current is not None:
            key, _, value = line.strip().partition(": ")
            if key in ("input", "output"):
                current[key] = sorted(v.strip() for v in value.split(",") if v.strip())
    if current is not None:
        jobs.append(_job_line(current))
    return sorted(jobs)


def _job_line(job: dict[str, list[str]]) -> str:
    return f"{' '.join(job['output'])} <- {' '.join(job['input'])}"


def read_reference(path: Path = REFERENCE_PAPER_PLAN) -> list[str]:
    """The committed listing."""
    return gzip.decompress(path.read_bytes()).decode().splitlines()


def write_reference(lines: list[str], path: Path = REFERENCE_PAPER_PLAN) -> None:
    """Store a listing (run once, by hand, on the code whose plan is the reference)."""
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))

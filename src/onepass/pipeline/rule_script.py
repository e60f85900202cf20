"""The one preamble of every `workflow/scripts/<rule>.py`: logging, and a single way to fail.

A rule's script only parses the ``snakemake`` object and calls the library. This helper gives all
of them the same behaviour: messages go to the rule's log file and to stderr; a failure leaves the
full traceback in the log and ends the job with one line, ``error: <rule> <job>: <message>``, and
exit status 1, so Snakemake's summary says what went wrong without anyone opening a log first.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any


def run_rule(snakemake: Any, work: Callable[[Any], str | None]) -> None:
    """Run ``work(snakemake)`` as the job of ``snakemake.rule``; log what it returns."""
    job = f"{snakemake.rule} {_job_name(snakemake)}".strip()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers,
                        force=True)  # fmt: skip
    try:
        done = work(snakemake)
    except Exception as error:  # noqa: BLE001 - every failure ends the job the same way
        for handler in handlers[1:]:  # the traceback goes to the log file only
            handler.handle(logging.LogRecord("onepass", logging.ERROR, "", 0, f"{job} failed", None, sys.exc_info()))
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        sys.exit(f"error: {job}: {message}")
    if done:
        logging.info("%s: %s", job, done)


def _job_name(snakemake: Any) -> str:
    """The job's wildcards (``uci_energy/Random/seeds000-019``), or nothing for rules without any."""
    values = [str(value) for value in dict(snakemake.wildcards).values()]
    return "/".join(values)

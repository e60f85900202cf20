"""`snakemake --lint`, failing on every lint but the one this workflow answers differently.

Snakemake recommends a `conda:` or `container:` directive on every rule ("Specify a conda
environment or container for each rule."). This workflow runs its jobs with the interpreter that
runs Snakemake (the repository's .venv, or the activated environment.yml), because every job calls
the `onepass` package installed there; a per-rule conda environment would have to install the
package from the checkout and would only be honest if `--sdm conda` were tested, which it is not.
So that one recommendation is accepted here, and every other lint (a missing log, a params prefix,
mixed rules and functions, a long `run:` block, ...) still fails `make lint`.

Usage: python .ci/lint_workflow.py [snakemake executable] [extra snakemake arguments...]
"""

from __future__ import annotations

import re
import subprocess
import sys

#: Lint titles this workflow answers by how it provides its environment (see the docstring).
ACCEPTED = {"Specify a conda environment or container for each rule."}

_BLOCK = re.compile(r"^Lints for (.+):$")
_TITLE = re.compile(r"^ {4}\* (.+):$")


def unaccepted_lints(output: str) -> tuple[int, list[str]]:
    """(number of lint blocks, lines of the lints not in ACCEPTED, each under its block's header)."""
    blocks, kept, header, pending = 0, [], "", False
    for line in output.splitlines():
        if match := _BLOCK.match(line):
            blocks, header, pending = blocks + 1, line, False
        elif match := _TITLE.match(line):
            pending = match.group(1) not in ACCEPTED
            if pending:
                kept += [header, line]
        elif pending and line.startswith("      "):
            kept.append(line)
    return blocks, kept


def main(argv: list[str]) -> int:
    snakemake = argv[0] if argv else "snakemake"
    result = subprocess.run([snakemake, "--lint", *argv[1:]], capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    if result.returncode == 0:
        print("snakemake --lint: no lints")
        return 0
    blocks, kept = unaccepted_lints(output)
    if blocks == 0:  # not a lint finding: the workflow did not parse, or Snakemake failed
        print(output, file=sys.stderr)
        return result.returncode
    if kept:
        print("\n".join(kept), file=sys.stderr)
        return 1
    print(f"snakemake --lint: {blocks} rules lack a conda/container directive, accepted (see .ci/lint_workflow.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

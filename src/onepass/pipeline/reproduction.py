"""Ship a finished reproduction in the repository: tables as CSV + Markdown, figures as PNG, the
per-run final values and a manifest saying how it was made.

``python -m onepass.pipeline.reproduction --config config/reproduction.yaml --results results
--out docs/reproduction --wall-seconds 3600`` runs after ``snakemake --configfile
config/reproduction.yaml``. Figures are drawn again from the aggregated results (the same code as
the PDFs, at a resolution a README can show), and tables are copied with their statistics, so what
the repository shows is exactly what the pipeline computed. ``tests/test_reproduction_docs.py``
rebuilds the shipped tables and CDF from the shipped final values, so they cannot drift from the code.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from ..analysis.figures.proof_of_concept import HP_TAGS as POC_TAGS
from ..analysis.loading import read_table_stats
from ..io_utils import atomic_write, atomic_write_text
from ..training.machine import describe_processor

if TYPE_CHECKING:
    from ..analysis.targets import Planner

#: Figures whose inputs the shipped per-run final values contain (they can be rebuilt from them).
FINAL_ONLY_KINDS = ("CDF", "CDF_Error", "Runtime")
PACKAGES = ("torch", "numpy", "pandas", "pyarrow", "matplotlib", "scipy", "snakemake")


def markdown_table(stats: pd.DataFrame) -> str:
    """A table's statistics (its CSV) as Markdown: mean ± s.e., median ± s.e., best, diverged runs."""
    lines = []
    for _, rows in stats.groupby("block", sort=False):
        first = rows.iloc[0]
        scale = f" ×{first['scale']:g}" if float(first["scale"]) != 1.0 else ""
        lines += [f"**{first['header']}** ({first['metric']}{scale})", ""]
        lines += ["| algorithm | mean | median | best | diverged |", "|---|---|---|---|---|"]
        for row in rows.itertuples():
            lines.append(
                f"| {row.label} | {_cell(row.mean_text, row.mean_err_text, row.mean_bold)} "
                f"| {_cell(row.median_text, row.median_err_text, row.median_bold)} "
                f"| {_bold(str(row.best_text), row.best_bold)} | {row.n_diverged} of {row.n_runs} |"
            )
        lines.append("")
    return "\n".join(lines)


def _cell(value: Any, error: Any, bold: bool) -> str:
    text = "---" if _missing(value) else (f"{value} ± {error}" if not _missing(error) else f"{value}")
    return _bold(text, bold)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in ("", "nan", "---")


def _bold(text: str, bold: bool) -> str:
    return f"**{text}**" if bold and text != "---" else text


#: Figure kinds whose per-step inputs are small enough to ship: kind -> (trajectory option and its
#: default, the tags it reads). The proof of concept draws 20 trajectories of 50 runs.
SHIPPED_SCALARS = {"ProofOfConcept": ("trajectory_algorithm", "Ours_LR", POC_TAGS)}


def planner_for(config: Mapping[str, Any], catalog: Mapping[str, Any] | None = None) -> Planner:
    """The figure rule's input wiring for ``config``, with grid experiments expanded as the Snakefile does.

    Rendering and the tests then ask for exactly the files and grid cells the pipeline's figure
    jobs used, instead of re-deriving them (a grid study reads one final CSV per cell).
    """
    from ..analysis.targets import Planner

    plan, names = training_plan(config, catalog)
    return Planner(config, experiment_names=lambda e: names.get(e, [e]),
                   experiment_cell=lambda e: plan[e]["cell"] if e in plan else {})  # fmt: skip


def training_plan(
    config: Mapping[str, Any], catalog: Mapping[str, Any] | None = None
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """The Snakefile's training plan of ``config`` (``onepass.pipeline.plan.build_plan``) and its names."""
    from .catalog import load_catalog
    from .plan import build_plan

    if catalog is None:
        path = config.get("catalog")  # optional override of the registry's job resources
        catalog = load_catalog(Path(path), str(path)) if path else load_catalog()
    return build_plan(dict(config), dict(catalog))


def run_processors(config: Mapping[str, Any], results: Path) -> dict[str, int]:
    """Runs per processor over every training chunk of ``config`` under ``results`` (for the manifest).

    The manifest's ``machine`` is where it was rendered; this is where the runs were made, chunk by
    chunk, so a reproduction resumed on another kind of processor shows it (``records.provenance``).
    """
    from ..records.chunk_files import read_summary
    from ..records.provenance import runs_per_processor
    from .plan import chunk_outputs

    plan, _ = training_plan(config)
    summaries = [path for name in plan for path in chunk_outputs(plan, name) if path.endswith(".json")]
    return runs_per_processor(read_summary(results / Path(path).relative_to("results")) for path in summaries)


def in_results(paths: Mapping[str, list[str]], results: Path) -> dict[str, list[str]]:
    """The planner's ``results/...`` paths under another results folder."""
    return {key: [str(results / Path(p).relative_to("results")) for p in files] for key, files in paths.items()}


def export(
    config: Mapping[str, Any],
    results: Path,
    out: Path,
    manifest: Mapping[str, Any],
    manifest_name: str = "manifest.json",
) -> list[Path]:
    """Write the tables, PNG figures, final values and manifest of ``config`` into ``out``.

    Several reproductions share ``out`` (one config per dataset or study, each run when its CPU
    hours are available), so each writes only its own files and its own ``manifest_name``. A grid
    experiment's cells ship as one ``<experiment>_final.csv`` (its ``experiment`` column names the
    cell); a hypergradient comparison ships its table as ``<experiment>.csv``.
    """
    import matplotlib

    matplotlib.use("Agg")
    from ..analysis.figures import build_figure

    out.mkdir(parents=True, exist_ok=True)
    written = []
    experiments_config = dict(config.get("experiments") or {})
    planner = planner_for(config)
    for name in config.get("tables") or {}:
        stats = read_table_stats(results / "tables" / f"{name}.csv")
        for suffix in (".csv", ".tex"):
            shutil.copyfile(results / "tables" / f"{name}{suffix}", out / f"{name}{suffix}")
            written.append(out / f"{name}{suffix}")
        atomic_write_text(out / f"{name}.md", markdown_table(stats))
        written.append(out / f"{name}.md")
    for name, spec in (config.get("figures") or {}).items():
        options = dict(spec)
        inputs = in_results(planner.figure_inputs(name), results)
        build_figure(options["kind"], name, options, inputs, out / f"{name}.png", out / f"{name}.csv",
                     experiments_config=experiments_config, cells=planner.figure_cells(name))  # fmt: skip
        written += [out / f"{name}.png", out / f"{name}.csv"]
        if options["kind"] in SHIPPED_SCALARS:
            written.append(_ship_scalars(options, inputs["scalars"], out))
    for experiment, entry in experiments_config.items():
        kind = entry.get("kind", "train") if isinstance(entry, Mapping) else None
        if kind == "train":
            cells = planner.expand([experiment])
            if cells == [experiment]:
                shutil.copyfile(results / "scalars" / f"{experiment}_final.csv", out / f"{experiment}_final.csv")
            else:
                finals = [pd.read_csv(results / "scalars" / f"{cell}_final.csv") for cell in cells]
                merged = pd.concat(finals, ignore_index=True).to_csv(index=False)
                atomic_write_text(out / f"{experiment}_final.csv", merged)
            written.append(out / f"{experiment}_final.csv")
        elif kind == "hypergradient_comparison":
            shutil.copyfile(results / "hypergradients" / f"{experiment}.csv", out / f"{experiment}.csv")
            written.append(out / f"{experiment}.csv")
    atomic_write_text(out / manifest_name, json.dumps(dict(manifest), indent=1) + "\n")
    written.append(out / manifest_name)
    return written


def _ship_scalars(options: Mapping[str, Any], paths: Sequence[str], out: Path) -> Path:
    """The few per-step rows a figure such as the proof of concept reads (its trajectories)."""
    from ..analysis.loading import read_scalars_many

    option, default, tags = SHIPPED_SCALARS[options["kind"]]
    frame = read_scalars_many(paths, tags=list(tags), algorithms=[str(options.get(option, default))])
    target = out / f"{options['experiments'][0]}_scalars.parquet"
    atomic_write(target, lambda path: frame.to_parquet(path, index=False))
    return target


def describe_environment(repository: Path) -> dict[str, Any]:
    """Commit, machine and package versions, for the manifest."""
    try:
        commit = subprocess.run(["git", "-C", str(repository), "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        commit = None
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {
        "commit": commit,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "python": sys.version.split()[0],
            # bit-identical reruns are expected only on the same kind of processor (training/machine.py)
            **describe_processor(),
        },
        "packages": versions,
    }


def run_commits(given: Sequence[str], commits_file: str | None) -> list[str]:
    """The commits the training ran on, first-seen order, without repeats (a resume adds one)."""
    commits = list(given)
    if commits_file is not None and Path(commits_file).is_file():
        commits += [line.split()[0] for line in Path(commits_file).read_text().splitlines() if line.strip()]
    return list(dict.fromkeys(commits))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m onepass.pipeline.reproduction", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="the pipeline config that was run")
    parser.add_argument("--results", default="results", help="its results folder")
    parser.add_argument("--out", required=True, help="where to write (e.g. docs/reproduction)")
    parser.add_argument("--repository", default=".", help="the checkout whose code ran (for its commit)")
    parser.add_argument("--command", default=None, help="the command that ran it (recorded)")
    parser.add_argument("--wall-seconds", type=float, default=None, help="how long it ran (recorded)")
    parser.add_argument("--cores", type=int, default=None, help="CPU cores it used (recorded)")
    parser.add_argument("--manifest", default="manifest.json", help="the manifest's file name in --out")
    parser.add_argument(
        "--run-commits-file",
        default=None,
        help="a file of commits, one per line, that the runs started on (a resumed run spans several)",
    )
    parser.add_argument("--run-commit", action="append", default=[], help="a commit the runs used (repeatable)")
    args = parser.parse_args(argv)
    config = yaml.safe_load(Path(args.config).read_text())
    manifest = {
        **describe_environment(Path(args.repository)),
        "config": args.config,
        "command": args.command,
        "wall_seconds": args.wall_seconds,
        "cores": args.cores,
        "run_commits": run_commits(args.run_commit, args.run_commits_file),
        "run_processors": run_processors(config, Path(args.results)),
    }
    for path in export(config, Path(args.results), Path(args.out), manifest, args.manifest):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

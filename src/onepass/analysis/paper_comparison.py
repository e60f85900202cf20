"""Our shipped Table 1 numbers beside the paper's, with each difference in standard errors.

The paper prints, per dataset and algorithm, the mean and median final test loss over 200 seeds with
their standard errors, and the best run. ``docs/reproduction/paper_table1.yaml`` holds those numbers
as printed (text such as ``21±2``); our numbers come from the AverageResults tables the reproduction
shipped (``AverageResults_<dataset>.csv``, already in the printed units, e.g. Kin8nm x1000).

A difference is given in units of the combined standard error, ``(ours - paper) / sqrt(se_ours² +
se_paper²)``: two independent 200-seed estimates of the same quantity differ by more than 2 of
these about 5 % of the time, so a larger gap says the two runs do not measure the same thing (a
setting, the data split or the code differs) rather than that the seeds were unlucky. Best values
have no standard error; they are shown side by side only.

``python -m onepass.analysis.paper_comparison --paper docs/reproduction/paper_table1.yaml
--tables docs/reproduction --out docs/reproduction/paper_comparison`` writes ``.md`` and ``.csv``.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ..io_utils import atomic_write_text
from .loading import read_table_stats

STATISTICS = ("mean", "median", "best")
#: A gap beyond this many combined standard errors is called out in the Markdown.
FLAG_AT = 2.0
COLUMNS = [
    "dataset", "dataset_label", "algorithm", "statistic", "paper_text", "paper", "paper_se",
    "ours_text", "ours", "ours_se", "ours_runs", "difference", "combined_se", "difference_in_se",
]  # fmt: skip
#: The seeds behind each of the paper's numbers (a reproduction with fewer says so beside its numbers).
PAPER_SEEDS = 200
_PRINTED = re.compile(r"^\s*(?P<value>[-+0-9.eE]+)\s*(?:±\s*(?P<se>[-+0-9.eE]+))?\s*$")


class PaperComparisonError(ValueError):
    """The paper's numbers file or one of our tables cannot be read as expected."""


def parse_printed(text: Any, where: str) -> tuple[float, float | None]:
    """``"21±2"`` -> (21.0, 2.0); ``"0.120"`` -> (0.12, None), as the paper prints a cell."""
    match = _PRINTED.match(str(text))
    if match is None:
        raise PaperComparisonError(f"{where}: {text!r} is not a number or 'value±se'")
    se = match.group("se")
    return float(match.group("value")), (float(se) if se is not None else None)


def load_paper(path: Path) -> dict[str, Any]:
    """The paper's numbers, checked: every cell parses and names a known statistic."""
    try:
        paper = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise PaperComparisonError(f"{path}: cannot read ({error})") from None
    if not isinstance(paper, Mapping) or not isinstance(paper.get("datasets"), Mapping):
        raise PaperComparisonError(f"{path}: expected a mapping with a 'datasets' key")
    for dataset, entry in paper["datasets"].items():
        for algorithm, cells in (entry.get("rows") or {}).items():
            for statistic, text in cells.items():
                if statistic not in STATISTICS:
                    raise PaperComparisonError(f"{path}: datasets.{dataset}.rows.{algorithm}: unknown '{statistic}'")
                parse_printed(text, f"{path}: datasets.{dataset}.rows.{algorithm}.{statistic}")
    return dict(paper)


def ours_for(tables: Path, dataset: str) -> pd.DataFrame | None:
    """Our shipped AverageResults table of ``dataset`` (None while it has not been run here)."""
    path = tables / f"AverageResults_{dataset}.csv"
    if not path.is_file():
        return None
    return read_table_stats(path).set_index("label")


def compare(paper: Mapping[str, Any], tables: Path) -> pd.DataFrame:
    """One row per dataset x algorithm x statistic: the paper's value, ours, and the gap in SEs."""
    rows = []
    for dataset, entry in paper["datasets"].items():
        ours = ours_for(tables, dataset)
        for algorithm, cells in entry["rows"].items():
            mine = None if ours is None or algorithm not in ours.index else ours.loc[algorithm]
            for statistic in STATISTICS:
                rows.append(_row(dataset, entry["label"], algorithm, statistic, cells.get(statistic), mine))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["ours_runs"] = frame["ours_runs"].astype("Int64")  # a count, empty while not run
    return frame


def _row(dataset: str, label: str, algorithm: str, statistic: str, printed: Any, mine: Any) -> dict[str, Any]:
    paper, paper_se = parse_printed(printed, statistic) if printed is not None else (math.nan, None)
    ours = ours_se = ours_runs = math.nan
    ours_text = ""
    if mine is not None:
        ours, ours_runs = float(mine[statistic]), int(mine["n_runs"])
        ours_text = str(mine[f"{statistic}_text"])
        if statistic != "best":
            ours_se = float(mine[f"{statistic}_err"])
            ours_text += f"±{mine[f'{statistic}_err_text']}"
    combined = math.hypot(ours_se, paper_se) if paper_se is not None and not math.isnan(ours_se) else math.nan
    difference = ours - paper
    return {
        "dataset": dataset, "dataset_label": label, "algorithm": algorithm, "statistic": statistic,
        "paper_text": "" if printed is None else str(printed), "paper": paper,
        "paper_se": math.nan if paper_se is None else paper_se, "ours_text": ours_text, "ours": ours,
        "ours_se": ours_se, "ours_runs": ours_runs, "difference": difference, "combined_se": combined,
        "difference_in_se": difference / combined if combined and not math.isnan(combined) else math.nan,
    }  # fmt: skip


def _gap(value: float) -> str:
    if math.isnan(value):
        return ""
    text = f"{value:+.1f}"
    return f"**{text}**" if abs(value) > FLAG_AT else text


def markdown(comparison: pd.DataFrame, paper: Mapping[str, Any]) -> str:
    """Per dataset a table (paper | ours | gap in SEs for mean and median; best side by side)."""
    source = " ".join(str(paper.get("source", "")).split())
    lines = [
        "# Our Table 1 beside the paper's",
        "",
        "Made by `python -m onepass.analysis.paper_comparison` from `paper_table1.yaml` (the paper's",
        "numbers as printed) and our shipped `AverageResults_<dataset>.csv`. Final test MSE; mean and",
        "median ± standard error over the runs, best single run. **gap**: (ours - paper) / combined",
        f"standard error; bold beyond ±{FLAG_AT:g} (two independent estimates of one quantity land",
        "there about 5 % of the time). Why the bold gaps arise is discussed in `README.md` beside this file.",
        "",
        f"Paper: {source}",
        "",
    ]
    for _, rows in comparison.groupby("dataset", sort=False):
        label = rows["dataset_label"].iloc[0]
        lines += [f"## {label}", ""]
        if (rows["ours_text"] == "").all():
            lines += ["Not run here yet at the paper's size (see the status table in `README.md`).", ""]
        seeds = seeds_of(rows)
        if seeds is not None and seeds != PAPER_SEEDS:
            lines += [
                f"Ours over {seeds} seeds per algorithm, not the paper's {PAPER_SEEDS} (see the status table in",
                "`README.md`): our standard errors are larger accordingly, and the gaps, in combined standard",
                "errors, account for that.",
                "",
            ]
        lines += [
            "| algorithm | mean: paper | ours | gap | median: paper | ours | gap | best: paper | ours |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for algorithm, cells in rows.groupby("algorithm", sort=False):
            by = cells.set_index("statistic")
            parts = [algorithm]
            for statistic in STATISTICS:
                parts += [by.at[statistic, "paper_text"] or "—", by.at[statistic, "ours_text"] or "—"]
                if statistic != "best":
                    parts.append(_gap(by.at[statistic, "difference_in_se"]))
            lines.append("| " + " | ".join(parts) + " |")
        flagged = rows[rows["difference_in_se"].abs() > FLAG_AT]
        if len(flagged):
            gaps = [f"{r.algorithm} {r.statistic} ({r.difference_in_se:+.1f})" for r in flagged.itertuples()]
            lines += ["", f"Beyond ±{FLAG_AT:g} standard errors: " + "; ".join(gaps) + "."]
        lines.append("")
    return "\n".join(lines)


def seeds_of(rows: pd.DataFrame) -> int | None:
    """The seeds behind our numbers of one dataset: the most runs of any algorithm (Random
    (3-batched) makes one run of three), None while it has not been run here."""
    runs = rows["ours_runs"].dropna()
    return int(runs.max()) if len(runs) else None


def summary_table(comparison: pd.DataFrame) -> str:
    """The README's compact Table 1: per dataset, "mean / median" as the paper prints them and ours.

    A cell of ours is marked † where its mean or median lies more than ``FLAG_AT`` combined
    standard errors from the paper's; the full comparison with every gap is the Markdown file. A
    dataset run here with fewer seeds than the paper's says how many in its column header.
    """
    datasets = list(dict.fromkeys(comparison["dataset"]))
    labels = {d: comparison.loc[comparison["dataset"] == d, "dataset_label"].iloc[0] for d in datasets}
    seeds = {d: seeds_of(comparison[comparison["dataset"] == d]) for d in datasets}
    ours_header = {d: "ours" if seeds[d] in (None, PAPER_SEEDS) else f"ours ({seeds[d]} seeds)" for d in datasets}
    header = "| algorithm | " + " | ".join(f"{labels[d]}: paper | {ours_header[d]}" for d in datasets) + " |"
    lines = [header, "|---" * (1 + 2 * len(datasets)) + "|"]
    for algorithm in dict.fromkeys(comparison["algorithm"]):
        cells = [algorithm]
        for dataset in datasets:
            rows = comparison[(comparison["dataset"] == dataset) & (comparison["algorithm"] == algorithm)]
            by = rows.set_index("statistic")
            cells.append(" / ".join(t for t in (by.at["mean", "paper_text"], by.at["median", "paper_text"]) if t))
            ours = " / ".join(t for t in (by.at["mean", "ours_text"], by.at["median", "ours_text"]) if t)
            flagged = (by.loc[["mean", "median"], "difference_in_se"].abs() > FLAG_AT).any()
            cells.append((ours + (" †" if flagged else "")) if ours else "not run yet")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write(paper_path: Path, tables: Path, out_stem: Path) -> tuple[Path, Path]:
    """Write ``out_stem``.md and .csv (atomically)."""
    paper = load_paper(paper_path)
    comparison = compare(paper, tables)
    md, csv = out_stem.with_suffix(".md"), out_stem.with_suffix(".csv")
    atomic_write_text(csv, comparison.to_csv(index=False))
    atomic_write_text(md, markdown(comparison, paper))
    return md, csv


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m onepass.analysis.paper_comparison",
                                     description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("--paper", default="docs/reproduction/paper_table1.yaml", help="the paper's numbers")
    parser.add_argument("--tables", default="docs/reproduction", help="folder of our AverageResults_<dataset>.csv")
    parser.add_argument("--out", default="docs/reproduction/paper_comparison", help="output stem (.md, .csv)")
    args = parser.parse_args(argv)
    try:
        for path in write(Path(args.paper), Path(args.tables), Path(args.out)):
            print(path)
    except PaperComparisonError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

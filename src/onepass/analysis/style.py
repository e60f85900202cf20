"""One plotting style for every figure: one entry per algorithm (label, colour, dash, marker).

Why a registry: the authors assigned colours positionally (plot order), so the same algorithm
could change colour between figures.  Here every algorithm owns a fixed colour (Okabe-Ito,
colour-blind safe), a distinct dash pattern and a marker, so figures stay readable in greyscale,
and legends follow one canonical order (docs/CONTRACTS.md): the order of :data:`STYLES`.

Adding an algorithm = one :class:`AlgorithmStyle` entry in :data:`STYLES`, placed where its legend
row should go.  The trained algorithms keep the order of ``onepass.training.algorithms.ALGORITHMS``
(tests/test_analysis_stats.py checks it); derived names (Random (3-batched), BayesOpt, the Ray
searches) are slotted in.  Standard library only: nothing here imports matplotlib.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from ..baselines.raytune import names as ray_names

# Okabe-Ito palette (colour-blind safe).
_SKY, _GREY, _GREEN, _OCHRE = "#56B4E9", "#8C8C8C", "#009E73", "#B8A000"
_ORANGE, _VERMILLION, _PURPLE, _BLUE, _BLACK = "#E69F00", "#D55E00", "#CC79A7", "#0072B2", "#000000"
_LONG_DASH = (0, (8, 2))


@dataclass(frozen=True)
class AlgorithmStyle:
    """How one algorithm is named and drawn in every figure and table."""

    name: str  # the algorithm name in the aggregated files
    label: str  # the paper's label (plain text: figures, CSVs)
    colour: str
    linestyle: object  # a Matplotlib dash spec: "-", "--", (0, (5, 1)), ...
    marker: str
    linewidth: float = 1.1  # our main method is drawn thicker so it stands out in greyscale too

    @property
    def latex_label(self) -> str:
        """The label in LaTeX (&, _ escaped, × as $\\times$)."""
        text = self.label.replace("&", r"\&").replace("_", r"\_")
        return text.replace("×", r"$\times$")


#: Every known algorithm, in the canonical (legend and table row) order.
STYLES: dict[str, AlgorithmStyle] = {
    s.name: s
    for s in [
        AlgorithmStyle("Random", "Random", _SKY, "-", "o"),
        AlgorithmStyle("Random_SteppedLR", "Random (×LR)", _GREY, (0, (1, 1)), "v"),
        AlgorithmStyle("Random_3Batched", "Random (3-batched)", _GREY, (0, (4, 1, 1, 1, 1, 1)), "^"),  # derived
        AlgorithmStyle("Random_Validation", "Random (validation)", _GREY, (0, (1, 2)), "<"),
        AlgorithmStyle("Lorraine", "Lorraine", _GREEN, "--", "s"),
        AlgorithmStyle("Baydin", "Baydin", _OCHRE, "-.", "D"),
        AlgorithmStyle("Ours_LR", "Ours (WD+LR)", _ORANGE, (0, (5, 1)), "P"),
        AlgorithmStyle("Ours_LR_Momentum", "Ours (WD+LR+M)", _VERMILLION, "-", "X", linewidth=1.6),
        AlgorithmStyle("Ours_HDLR_Momentum", "Ours (WD+HDLR+M)", _PURPLE, (0, (3, 1, 1, 1)), "*"),
        AlgorithmStyle("DiffThroughOpt", "Diff-through-Opt", _BLUE, ":", "h"),
        AlgorithmStyle("LongDiffThroughOpt_UCI_Standalone", "Long Diff-through-Opt", _BLACK, _LONG_DASH, "p"),
        AlgorithmStyle("LongDiffThroughOpt_UCI_Full", "Full Diff-through-Opt", _BLACK, _LONG_DASH, "p"),
        AlgorithmStyle("LongDiffThroughOpt_FashionMNIST_Standalone", "Long Diff-through-Opt", _BLACK, _LONG_DASH, "p"),
        AlgorithmStyle("LongDiffThroughOpt_FashionMNIST_Medium", "Medium Diff-through-Opt", _BLACK, _LONG_DASH, "p"),
        AlgorithmStyle("BayesOpt", "Bayesian Optimisation", _BLACK, "-", "d"),  # baseline (onepass.baselines)
    ]
}
# The Ray searches (onepass.baselines.raytune): drawn like their outer algorithm, ASHA solid, PBT dashed.
for _search, (_scheduler, _outer) in ray_names.SEARCHES.items():
    STYLES[_search] = replace(
        STYLES[_outer],
        name=_search,
        label=f"{_scheduler} ({STYLES[_outer].label})",
        linestyle="-" if _scheduler == "ASHA" else "--",
        linewidth=AlgorithmStyle.linewidth,
    )

#: An algorithm without an entry: shown under its own name, dark grey, solid.
UNKNOWN = AlgorithmStyle("", "", "#444444", "-", ".")

#: Canonical algorithm order (docs/CONTRACTS.md "Algorithm names"): the order of STYLES.
ALGORITHM_ORDER: tuple[str, ...] = tuple(STYLES)
#: The paper's labels (plain text), derived from STYLES.
LABELS: dict[str, str] = {name: s.label for name, s in STYLES.items()}

#: Figure sizes in inches for a two-column paper (one column ≈ 3.3 in, full width ≈ 6.8 in).
SINGLE_COLUMN: tuple[float, float] = (3.3, 2.6)
SQUARE: tuple[float, float] = (3.3, 3.1)
DOUBLE_COLUMN: tuple[float, float] = (6.8, 2.8)

_STYLE_APPLIED = False


def apply_style() -> None:
    """Set the seaborn theme and paper-sized fonts once per process (idempotent)."""
    global _STYLE_APPLIED
    if _STYLE_APPLIED:
        return
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    sns.set_theme(
        context="paper",
        style="whitegrid",
        font_scale=0.8,
        rc={
            "pdf.fonttype": 42,  # embed TrueType so the PDFs are editable / searchable
            "ps.fonttype": 42,
            "axes.titlesize": 8,
            "legend.fontsize": 6,
            "legend.frameon": True,
            "lines.linewidth": 1.1,
            "savefig.bbox": "tight",
            "savefig.pad_inches": 0.02,
        },
    )
    _STYLE_APPLIED = True


def style_of(algorithm: str) -> AlgorithmStyle:
    """The registry entry of an algorithm (:data:`UNKNOWN`, labelled with its name, if it has none)."""
    found = STYLES.get(algorithm)
    return found if found is not None else replace(UNKNOWN, name=algorithm, label=algorithm)


def label(algorithm: str) -> str:
    """Paper label of an algorithm (unknown names are shown as they are)."""
    return style_of(algorithm).label


def colour(algorithm: str) -> str:
    return style_of(algorithm).colour


def linestyle(algorithm: str) -> object:
    return style_of(algorithm).linestyle


def marker(algorithm: str) -> str:
    return style_of(algorithm).marker


def linewidth(algorithm: str) -> float:
    return style_of(algorithm).linewidth


def line_kwargs(algorithm: str) -> dict[str, object]:
    """Keyword arguments for ``Axes.plot`` giving the algorithm's fixed look."""
    s = style_of(algorithm)
    return {"color": s.colour, "linestyle": s.linestyle, "linewidth": s.linewidth, "label": s.label}


def order(algorithms: Iterable[str]) -> list[str]:
    """Sort algorithm names canonically; unknown names go last, alphabetically."""
    rank = {name: k for k, name in enumerate(ALGORITHM_ORDER)}
    unique = list(dict.fromkeys(algorithms))
    return sorted(unique, key=lambda a: (rank.get(a, len(rank)), a))


def latex_label(algorithm: str) -> str:
    """Paper label in LaTeX (× and & escaped)."""
    return style_of(algorithm).latex_label

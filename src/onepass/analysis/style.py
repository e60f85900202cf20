"""One plotting style for every figure: labels, colours, line styles, markers and order.

Why a module: the authors assigned colours positionally (plot order), so the same algorithm
could change colour between figures.  Here every algorithm owns a fixed
colour (Okabe-Ito, colour-blind safe), a distinct dash pattern and a marker, so figures stay
readable in greyscale, and legends follow one canonical order (docs/CONTRACTS.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..baselines.raytune import names as ray_names

#: Canonical algorithm order (docs/CONTRACTS.md "Algorithm names"), derived ones slotted in.
ALGORITHM_ORDER: tuple[str, ...] = (
    "Random",
    "Random_SteppedLR",
    "Random_3Batched",
    "Random_Validation",
    "Lorraine",
    "Baydin",
    "Ours_LR",
    "Ours_LR_Momentum",
    "Ours_HDLR_Momentum",
    "DiffThroughOpt",
    "LongDiffThroughOpt_UCI_Standalone",
    "LongDiffThroughOpt_UCI_Full",
    "LongDiffThroughOpt_FashionMNIST_Standalone",
    "LongDiffThroughOpt_FashionMNIST_Medium",
    "BayesOpt",
    *ray_names.SEARCH_NAMES,  # ASHA_Random, ASHA_Ours_LR_Momentum, PBT_Random, PBT_Ours_LR_Momentum
)

#: The paper's labels (plain text, used in figures and CSVs).
LABELS: dict[str, str] = {
    "Random": "Random",
    "Random_SteppedLR": "Random (×LR)",
    "Random_3Batched": "Random (3-batched)",
    "Random_Validation": "Random (validation)",
    "Lorraine": "Lorraine",
    "Baydin": "Baydin",
    "Ours_LR": "Ours (WD+LR)",
    "Ours_LR_Momentum": "Ours (WD+LR+M)",
    "Ours_HDLR_Momentum": "Ours (WD+HDLR+M)",
    "DiffThroughOpt": "Diff-through-Opt",
    "LongDiffThroughOpt_UCI_Standalone": "Long Diff-through-Opt",
    "LongDiffThroughOpt_UCI_Full": "Full Diff-through-Opt",
    "LongDiffThroughOpt_FashionMNIST_Standalone": "Long Diff-through-Opt",
    "LongDiffThroughOpt_FashionMNIST_Medium": "Medium Diff-through-Opt",
    "BayesOpt": "Bayesian Optimisation",
}

# Okabe-Ito palette (colour-blind safe).
_SKY, _GREY, _GREEN, _OCHRE = "#56B4E9", "#8C8C8C", "#009E73", "#B8A000"
_ORANGE, _VERMILLION, _PURPLE, _BLUE, _BLACK = "#E69F00", "#D55E00", "#CC79A7", "#0072B2", "#000000"

COLOURS: dict[str, str] = {
    "Random": _SKY,
    "Random_SteppedLR": _GREY,
    "Random_3Batched": _GREY,
    "Random_Validation": _GREY,
    "Lorraine": _GREEN,
    "Baydin": _OCHRE,
    "Ours_LR": _ORANGE,
    "Ours_LR_Momentum": _VERMILLION,
    "Ours_HDLR_Momentum": _PURPLE,
    "DiffThroughOpt": _BLUE,
    "LongDiffThroughOpt_UCI_Standalone": _BLACK,
    "LongDiffThroughOpt_UCI_Full": _BLACK,
    "LongDiffThroughOpt_FashionMNIST_Standalone": _BLACK,
    "LongDiffThroughOpt_FashionMNIST_Medium": _BLACK,
    "BayesOpt": _BLACK,
}

#: Distinct dash patterns so that lines stay distinguishable in greyscale.
LINESTYLES: dict[str, object] = {
    "Random": "-",
    "Random_SteppedLR": (0, (1, 1)),
    "Random_3Batched": (0, (4, 1, 1, 1, 1, 1)),
    "Random_Validation": (0, (1, 2)),
    "Lorraine": "--",
    "Baydin": "-.",
    "Ours_LR": (0, (5, 1)),
    "Ours_LR_Momentum": "-",
    "Ours_HDLR_Momentum": (0, (3, 1, 1, 1)),
    "DiffThroughOpt": ":",
    "LongDiffThroughOpt_UCI_Standalone": (0, (8, 2)),
    "LongDiffThroughOpt_UCI_Full": (0, (8, 2)),
    "LongDiffThroughOpt_FashionMNIST_Standalone": (0, (8, 2)),
    "LongDiffThroughOpt_FashionMNIST_Medium": (0, (8, 2)),
    "BayesOpt": "-",
}

MARKERS: dict[str, str] = {
    "Random": "o",
    "Random_SteppedLR": "v",
    "Random_3Batched": "^",
    "Random_Validation": "<",
    "Lorraine": "s",
    "Baydin": "D",
    "Ours_LR": "P",
    "Ours_LR_Momentum": "X",
    "Ours_HDLR_Momentum": "*",
    "DiffThroughOpt": "h",
    "LongDiffThroughOpt_UCI_Standalone": "p",
    "LongDiffThroughOpt_UCI_Full": "p",
    "LongDiffThroughOpt_FashionMNIST_Standalone": "p",
    "LongDiffThroughOpt_FashionMNIST_Medium": "p",
    "BayesOpt": "d",
}

#: Ray searches (names from onepass.baselines.raytune.names): "<scheduler> (<inner label>)", the inner
#: algorithm's colour and marker, a dash per scheduler (ASHA solid, PBT dashed).
_RAY_DASHES = dict(zip(ray_names.SCHEDULERS, ("-", "--"), strict=True))
for _name, (_scheduler, _inner) in ray_names.SEARCHES.items():
    LABELS[_name] = f"{_scheduler} ({LABELS[_inner]})"
    COLOURS[_name] = COLOURS[_inner]
    LINESTYLES[_name] = _RAY_DASHES[_scheduler]
    MARKERS[_name] = MARKERS[_inner]

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


def label(algorithm: str) -> str:
    """Paper label of an algorithm (unknown names are shown as they are)."""
    return LABELS.get(algorithm, algorithm)


def colour(algorithm: str) -> str:
    return COLOURS.get(algorithm, "#444444")


def linestyle(algorithm: str) -> object:
    return LINESTYLES.get(algorithm, "-")


def marker(algorithm: str) -> str:
    return MARKERS.get(algorithm, ".")


def linewidth(algorithm: str) -> float:
    """Our main method is drawn slightly thicker so it stands out in greyscale too."""
    return 1.6 if algorithm == "Ours_LR_Momentum" else 1.1


def line_kwargs(algorithm: str) -> dict[str, object]:
    """Keyword arguments for ``Axes.plot`` giving the algorithm's fixed look."""
    return {
        "color": colour(algorithm),
        "linestyle": linestyle(algorithm),
        "linewidth": linewidth(algorithm),
        "label": label(algorithm),
    }


def order(algorithms: Iterable[str]) -> list[str]:
    """Sort algorithm names canonically; unknown names go last, alphabetically."""
    rank = {name: k for k, name in enumerate(ALGORITHM_ORDER)}
    unique = list(dict.fromkeys(algorithms))
    return sorted(unique, key=lambda a: (rank.get(a, len(rank)), a))


def latex_label(algorithm: str) -> str:
    """Paper label in LaTeX (× and & escaped)."""
    text = label(algorithm).replace("&", r"\&").replace("_", r"\_")
    return text.replace("×", r"$\times$")

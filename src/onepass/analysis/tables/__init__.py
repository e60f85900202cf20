"""Result tables (LaTeX + CSV) with bootstrap errors, the paper's rounding and bold rules.

One generic implementation serves every table kind (:mod:`.registry`: caption, default metric,
inputs): a table is a list of *blocks* (column groups), each built from one or more experiments,
with rows = algorithms in canonical order; per block the columns are mean ± err, median ± err,
best, as in the paper.

- :mod:`.statistics`: the blocks of a table and the statistics of one block;
- :mod:`.formatting`: rounding (error to one significant figure) and the bold rule;
- :mod:`.latex`: the booktabs tabular and the divergence note;
- :mod:`.build`: :func:`build_table`, which writes ``<Name>.tex`` and ``<Name>.csv``.

Names below are imported on first use (PEP 562), so importing the registry stays light.
"""

from __future__ import annotations

from ...lazy import lazy_attributes

# Public names -> defining module (imported on first use).
_LAZY = {
    "build_table": ".build",
    "TableKind": ".registry",
    "TABLE_KINDS": ".registry",
    "table_blocks": ".statistics",
    "block_statistics": ".statistics",
    "format_value_error": ".formatting",
    "format_best": ".formatting",
    "bold_flags": ".formatting",
    "render_latex": ".latex",
    "divergence_note": ".latex",
}


__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = sorted(_LAZY)

"""The one regular-expression helper of the workflow: a wildcard constraint from a set of names.

Snakemake's wildcard constraints keep rules that share a path pattern apart (a figure name from a
Ray figure's, a dataset id of one preprocessing kind from another's). Each is the alternation of
the exact names a config or a registry declares; with no names it must match nothing, not
everything. Standard library only: the dataset rules, the analysis planner and the pipeline use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: A regular expression that matches nothing, for a wildcard whose set of values is empty.
MATCH_NOTHING = "(?!x)x"


def alternation(names: Iterable[str]) -> str:
    """``a|b|c`` of the names, each escaped, in the given order; :data:`MATCH_NOTHING` for none."""
    escaped = [re.escape(str(name)) for name in names]
    return "|".join(escaped) if escaped else MATCH_NOTHING

"""The small expression language of `grid_where` and `grid_derived`, evaluated without `eval`.

Configs are shared between people, so loading one (even `snakemake -n`) must never run code.
Python's `eval` with empty builtins is no sandbox (attribute access reaches `object.__subclasses__()`
and from there `os.system`), so expressions are parsed with `ast` and only this grammar is
interpreted:

- names of the grid cell's keys (dots written as underscores: `model_batch_norm`),
- numbers and `True`/`False`,
- arithmetic on numbers: `+ - * / // %` and unary `-`/`+`,
- comparisons `< <= > >= == !=` (chains allowed), `and`, `or`, `not`, parentheses.

Anything else (calls, attributes, subscripts, strings, `**`, lambdas, comprehensions...) is a
config error naming the key. `**` is left out deliberately: `9 ** 9 ** 9` alone would hang the
dry run.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

from .errors import fail

# Expressions are one-liners in a YAML file; a bound keeps pathological input cheap to refuse.
MAX_LENGTH = 500

_ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_COMPARISONS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_SYMBOLS = {
    ast.Pow: "**",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
    ast.Invert: "~",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}


class _Refused(Exception):
    """An expression outside the grammar, or a value arithmetic cannot take."""


def parse_expression(text: Any, path: str) -> ast.Expression:
    """Parse `text` and check it uses only the grammar above; fail naming `path` otherwise."""
    if not isinstance(text, str) or not text.strip():
        fail(path, f"must be an expression written as text, got {text!r}")
    if len(text) > MAX_LENGTH:
        fail(path, f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        fail(path, f"cannot parse {text!r}: {error.msg}")
    try:
        for node in ast.walk(tree):
            _check_node(node)
    except _Refused as error:
        fail(path, f"cannot evaluate {text!r}: {error}; allowed: grid key names, numbers, + - * / // %, "
                   "comparisons, and, or, not, parentheses")
    return tree


def _check_node(node: ast.AST) -> None:
    allowed = (
        ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
        ast.BinOp, ast.Compare, ast.Name, ast.Load, ast.Constant,
        *_ARITHMETIC, *_COMPARISONS,
    )  # fmt: skip
    if not isinstance(node, allowed):
        symbol = _SYMBOLS.get(type(node))
        raise _Refused(f"'{symbol}' is not allowed" if symbol else f"{type(node).__name__} is not allowed")
    if isinstance(node, ast.Constant) and (not isinstance(node.value, (int, float)) or node.value is None):
        raise _Refused(f"the constant {node.value!r} is not a number")


def evaluate_expression(text: Any, cell: Mapping[str, Any], path: str) -> Any:
    """The value of a `grid_where`/`grid_derived` expression on one grid cell (see module doc).

    Semantics follow Python's for the allowed grammar (`and`/`or` short-circuit and return an
    operand), so configs written for the old `eval` keep their meaning.
    """
    tree = parse_expression(text, path)
    names = {key.replace(".", "_"): value for key, value in cell.items()}
    try:
        return _value(tree.body, names)
    except _Refused as error:
        fail(path, f"cannot evaluate {text!r} on grid cell {dict(cell)}: {error}")
    except (ArithmeticError, TypeError) as error:
        fail(path, f"cannot evaluate {text!r} on grid cell {dict(cell)}: {error}")


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Refused(f"arithmetic needs numbers, got {value!r}")
    return value


def _value(node: ast.AST, names: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in names:
            known = ", ".join(sorted(names)) or "none"
            raise _Refused(f"name '{node.id}' is not a key of this grid (known: {known})")
        return names[node.id]
    if isinstance(node, ast.BoolOp):
        result = None
        for operand in node.values:
            result = _value(operand, names)
            if isinstance(node.op, ast.And) and not result:
                return result
            if isinstance(node.op, ast.Or) and result:
                return result
        return result
    if isinstance(node, ast.UnaryOp):
        operand = _value(node.operand, names)
        if isinstance(node.op, ast.Not):
            return not operand
        return -_number(operand) if isinstance(node.op, ast.USub) else +_number(operand)
    if isinstance(node, ast.BinOp):
        left, right = _number(_value(node.left, names)), _number(_value(node.right, names))
        return _ARITHMETIC[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        left = _value(node.left, names)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _value(comparator, names)
            if not _COMPARISONS[type(op)](left, right):
                return False
            left = right
        return True
    raise _Refused(f"{type(node).__name__} is not allowed")  # unreachable after parse_expression

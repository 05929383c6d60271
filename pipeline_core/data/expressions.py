"""Row filters for ``TabularDataset.filter`` (AML v1: ``ds.filter(ds['age'] > 18)``).

An expression is built with Python operators on ``ds['column']`` and kept as
plain JSON inside the dataset definition, because the definition travels in
the pipeline spec and is read in other processes (a step, a ParallelRunStep
worker) where the expression objects do not exist. ``readers.apply_transforms``
evaluates the JSON with pandas.
"""

from __future__ import annotations

from typing import Any

from pipeline_core.errors import AmliteError

_LITERALS = (str, int, float, bool, type(None))


def _operand(value: Any) -> dict[str, Any]:
    if isinstance(value, Expression):
        return value.node
    if isinstance(value, _LITERALS):
        return {"value": value}
    raise AmliteError(f"a dataset filter compares a column with {type(value).__name__!r}; use a string, number, "
                      "bool, None or another column (ds['name'])")


class Expression:
    """A boolean (or column) expression over a dataset's rows; combine with ``&``, ``|`` and ``~``."""

    def __init__(self, node: dict[str, Any]):
        self.node = node

    def _binary(self, op: str, other: Any) -> Expression:
        return Expression({"op": op, "args": [self.node, _operand(other)]})

    def __and__(self, other: Any) -> Expression:
        return self._binary("and", other)

    def __or__(self, other: Any) -> Expression:
        return self._binary("or", other)

    def __invert__(self) -> Expression:
        return Expression({"op": "not", "args": [self.node]})

    def __bool__(self) -> bool:
        raise AmliteError("a dataset filter expression cannot be used with 'and'/'or'/'not' or in an if: "
                          "combine conditions with &, | and ~ and wrap each comparison in parentheses")


class Field(Expression):
    """``ds['column']``: compare it, or test it with ``starts_with``/``ends_with``/``contains``/``is_null``."""

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise AmliteError(f"a dataset column name must be a non-empty string, not {name!r}")
        super().__init__({"column": name})

    def __eq__(self, other: Any) -> Expression:  # type: ignore[override]
        return self._binary("==", other)

    def __ne__(self, other: Any) -> Expression:  # type: ignore[override]
        return self._binary("!=", other)

    def __lt__(self, other: Any) -> Expression:
        return self._binary("<", other)

    def __le__(self, other: Any) -> Expression:
        return self._binary("<=", other)

    def __gt__(self, other: Any) -> Expression:
        return self._binary(">", other)

    def __ge__(self, other: Any) -> Expression:
        return self._binary(">=", other)

    def __hash__(self) -> int:
        return hash(self.node["column"])

    def starts_with(self, prefix: str) -> Expression:
        return self._binary("starts_with", prefix)

    def ends_with(self, suffix: str) -> Expression:
        return self._binary("ends_with", suffix)

    def contains(self, value: str) -> Expression:
        return self._binary("contains", value)

    def is_null(self) -> Expression:
        return Expression({"op": "is_null", "args": [self.node]})

    def is_in(self, values: list[Any]) -> Expression:
        return Expression({"op": "in", "args": [self.node, {"value": [_operand(v)["value"] for v in values]}]})


def as_filter(expression: Any) -> dict[str, Any]:
    """The JSON of a filter; a bare column or a non-expression is refused with the way to write one."""
    if not isinstance(expression, Expression) or "column" in expression.node:
        raise AmliteError("TabularDataset.filter takes a condition such as ds['age'] > 18 or "
                          "ds['name'].starts_with('A'), not " + repr(getattr(expression, 'node', expression)))
    return expression.node

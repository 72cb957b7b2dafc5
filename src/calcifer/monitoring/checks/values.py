"""Comparing a value a check read (an SNMP object, a query's first column, a Redis key) with what the
endpoint expects, and saying how it differed.

A check's message is shown to every viewer, so it quotes only what the endpoint file says and the
*numbers* a target sent (a counter, a status code, a temperature: what a threshold is about). Text a
target sent (a description, a row, a key's value) is never quoted: it may be what only the target should
know; the message names where it came from and what was expected instead.
"""

from __future__ import annotations

import math
from typing import Any, Literal

Operator = Literal["eq", "ne", "lt", "gt", "contains"]
OPERATORS = ("eq", "ne", "lt", "gt", "contains")
_WORDS = {"eq": "equal to", "ne": "different from", "lt": "below", "gt": "above", "contains": "containing"}


def as_number(value: Any) -> float | None:
    """``value`` as a finite number (ints, floats, numeric text), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str | bytes):
        try:
            number = float(value.decode() if isinstance(value, bytes) else value)
        except (ValueError, UnicodeDecodeError):
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _num_text(number: float) -> str:
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else f"{number:g}"


def check_expected(operator: str, expected: Any) -> None:
    """Raise ValueError when ``expected`` cannot be compared with ``operator`` (options validation)."""
    if operator in ("lt", "gt") and as_number(expected) is None:
        raise ValueError(f"operator {operator!r} compares numbers: write a number as the expected value")
    if operator == "contains" and (not isinstance(expected, str) or not expected):
        raise ValueError("operator 'contains' needs a non-empty text as the expected value")


def compare(what: str, actual: Any, operator: str, expected: Any) -> str | None:
    """None when ``actual`` (a value read from ``what``, e.g. "OID 1.3.6.1.2.1.1.5.0") meets
    ``operator expected``; else the sentence saying how it did not."""
    wanted = f"{_WORDS[operator]} {expected!r}"
    number, expected_number = as_number(actual), as_number(expected)
    text = actual.decode(errors="replace") if isinstance(actual, bytes) else str(actual)
    if operator in ("lt", "gt"):
        if number is None or expected_number is None:
            return f"{what} is not a number (expected a number {wanted})"
        ok = number < expected_number if operator == "lt" else number > expected_number
        if ok:
            return None
        return f"{what} is {_num_text(number)}, expected {_WORDS[operator]} {_num_text(expected_number)}"
    if operator == "contains":
        return None if str(expected) in text else f"{what} does not contain {expected!r}"
    if number is not None and expected_number is not None:
        same = number == expected_number
        shown = f"{what} is {_num_text(number)}"
    else:
        same = text == str(expected)
        shown = f"{what} is a different value" if operator == "eq" else f"{what} is {expected!r}"
    if same == (operator == "eq"):
        return None
    return f"{shown}, expected a value {wanted}"

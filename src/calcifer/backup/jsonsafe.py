"""JSON that another program or person wrote (archive manifests, exports, Uptime Kuma backups).

Python's ``json`` accepts things no database column or YAML file can hold: ``Infinity`` and ``NaN``,
numbers too large for a 64-bit column, strings with lone UTF-16 surrogates, and nesting deep enough
to exhaust the stack. :func:`loads` refuses each of them up front with one sentence naming the problem,
so an import fails with a clear message before it writes anything instead of deep inside a driver.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from calcifer.errors import Invalid

MAX_DEPTH = 64  # Calcifer's own exports nest at most 4 deep (file, tables, rows, JSON columns)
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1  # the largest BIGINT on SQLite and PostgreSQL
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def loads(text: str | bytes, *, what: str) -> Any:
    """Parse ``text`` and :func:`check` the result; raises Invalid naming ``what`` (e.g. "The export")."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise Invalid(f"{what} is nested more than {MAX_DEPTH} levels deep.") from exc
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, Infinity/NaN, over 4300 digits
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise Invalid(f"{what} is not JSON ({reason}).") from exc
    check(value, what=what)
    return value


def check(value: Any, *, what: str) -> None:
    """Raise Invalid when ``value`` (parsed JSON) holds a non-finite number, an integer outside 64 bits, a
    string or key with a lone surrogate, or nesting deeper than :data:`MAX_DEPTH`."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Invalid(f"{what} is nested more than {MAX_DEPTH} levels deep.")
        if isinstance(item, str):
            _check_text(item, what)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                raise Invalid(f"{what} holds the number {str(item)[:30]}…, larger than a database can store "
                              "(at most 2^63-1).")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise Invalid(f"{what} holds a number too large to store ({item}).")
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, what)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _check_text(text: str, what: str) -> None:
    if _SURROGATE.search(text):
        raise Invalid(f"{what} holds text with a lone UTF-16 surrogate (\\ud800-\\udfff), which is not "
                      "Unicode text: the file was damaged or written by a broken program.")

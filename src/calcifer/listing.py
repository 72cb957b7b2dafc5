"""Helpers every paginated, filterable list shares: opaque keyset cursors and LIKE patterns."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from calcifer.errors import Invalid

T = TypeVar("T")


def encode_cursor(values: list[Any]) -> str:
    """The sort key of a page's last row, as an opaque URL-safe token."""
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    """The ``size`` values ``encode_cursor`` packed; raises Invalid for anything else."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid("The cursor is not one this list gave out; start again without it.",
                      code="bad_cursor") from exc
    if not isinstance(values, list) or len(values) != size:
        raise Invalid("The cursor is not one this list gave out; start again without it.", code="bad_cursor")
    return values


def like_pattern(text: str) -> str:
    """A ``LIKE ... ESCAPE '\\'`` pattern matching ``text`` anywhere (wildcards in it taken literally)."""
    cleaned = text.strip()[:100].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{cleaned}%"


# Numbers in a cursor stay within what both databases compare (a signed 64-bit integer).
MAX_CURSOR_INT = 2**63 - 1


def id_cursor(cursor: str | None) -> int | None:
    """The row id a cursor from ``next_id_cursor`` carries, for lists paged by descending or ascending id.

    A bare id (what these lists gave out before their cursors were opaque) is still taken as it is.
    """
    if not cursor:
        return None
    if re.fullmatch(r"[0-9]{1,18}", cursor):
        return int(cursor)
    value = decode_cursor(cursor, 1)[0]
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > MAX_CURSOR_INT:
        raise Invalid("The cursor is not one this list gave out; start again without it.", code="bad_cursor")
    return value


def next_id_cursor(ids: list[int], limit: int) -> str | None:
    """The cursor of the page after one whose rows had ``ids`` (None when that page was the last)."""
    return encode_cursor([ids[-1]]) if ids and len(ids) >= limit else None


# The page size of a list that does not say otherwise, and the most one page may hold.
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def keyset_page(rows: Iterable[T], *, key: Callable[[T], tuple[Any, ...]], types: tuple[type, ...],
                cursor: str | None, limit: int) -> tuple[list[T], str | None]:
    """One page of a list built in memory (files, git objects, settings), in ascending ``key`` order.

    ``key`` names one row (it must be unique, so ends in a tie-breaker) and holds values of ``types``
    (str or int). The page holds the ``limit`` rows after the key ``cursor`` carries, so rows that
    came or went between two requests neither repeat nor push others out. Returns the rows and the
    next cursor (None on the last page); raises Invalid for a cursor this list did not give out.
    """
    after = _key_cursor(cursor, types) if cursor else None
    ordered = sorted(rows, key=key)
    if after is not None:
        ordered = [row for row in ordered if key(row) > after]
    page = ordered[:limit]
    more = len(ordered) > limit
    return page, encode_cursor(list(key(page[-1]))) if page and more else None


def _key_cursor(cursor: str, types: tuple[type, ...]) -> tuple[Any, ...]:
    values = decode_cursor(cursor, len(types))
    for value, kind in zip(values, types, strict=True):
        # bool is an int to isinstance; a cursor never carries one
        too_big = isinstance(value, int) and abs(value) > MAX_CURSOR_INT
        if not isinstance(value, kind) or isinstance(value, bool) or too_big:
            raise Invalid("The cursor is not one this list gave out; start again without it.", code="bad_cursor")
    return tuple(values)

"""Helpers every paginated, filterable list shares: opaque keyset cursors and LIKE patterns."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from calcifer.errors import Invalid


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

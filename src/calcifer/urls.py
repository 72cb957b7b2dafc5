"""URLs that come from people, checked in one place: parsed with urllib.parse and allowed by scheme.

Validators (the catalog's ``Url`` type, endpoint targets) call :func:`url_problem`; templates call
:func:`safe_href` (the Jinja filter ``safe_url`` and the macro ``m.link``), so no page writes a URL it
has not checked into ``href`` or ``src``: a ``javascript:``, ``data:`` or ``vbscript:`` URL, or one a
browser would read differently from us (control characters, spaces, backslashes), is shown as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

WEB_SCHEMES: tuple[str, ...] = ("http", "https")
URL_MAX = 2048

# What a JSON Schema reader (an editor's YAML plugin) can check before the server does; the server's
# check is url_problem, which also parses the host.
WEB_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#\\]+([/?#]\S*)?$"

# Browsers drop tabs and newlines inside URLs and strip leading control characters and spaces
# ("java\tscript:" is "javascript:" to them), so any of these makes the text something we will not link.
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f\\]")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def url_problem(value: str, *, schemes: Iterable[str] = WEB_SCHEMES) -> str | None:
    """None when ``value`` is an absolute URL with one of ``schemes`` and a host; else what to fix."""
    allowed = tuple(schemes)
    starts = " or ".join(s + "://" for s in allowed)
    if len(value) > URL_MAX:
        return f"a URL is at most {URL_MAX} characters"
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError on a port out of range or not a number)
    except ValueError:
        return f"{value!r} is not a URL (check its host and port)"
    if not parts.scheme or parts.scheme.lower() not in allowed:
        if parts.scheme:
            return f"the scheme must be {starts} (not {parts.scheme}:)"
        return f"write the URL with its scheme, {starts}"
    if _UNSAFE_CHARS.search(value):
        return "write the URL without spaces, control characters or backslashes"
    if not value[len(parts.scheme):].startswith("://") or not host:
        return f"{value!r} has no host: write {parts.scheme}://host/path"
    return None


def is_safe_url(value: str, *, schemes: Iterable[str] = WEB_SCHEMES) -> bool:
    return url_problem(value, schemes=schemes) is None


def safe_href(value: object) -> str | None:
    """``value`` when a page may put it in ``href``/``src``: a path on this site or an http(s) URL; else None."""
    if not isinstance(value, str) or not value or _CONTROL_CHARS.search(value):
        return None
    if value.startswith("/"):
        # "//host" (and "/\\host", which browsers read alike) is another site; a path is ours.
        return None if value.startswith(("//", "/\\")) else value
    if value.startswith(("#", "?")):
        return value
    return value if is_safe_url(value) else None

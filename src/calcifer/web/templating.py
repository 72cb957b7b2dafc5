"""One Jinja2 environment over the templates of every slice, and the `render` helper routes use."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from calcifer import __version__
from calcifer.auth.roles import has_role
from calcifer.urls import safe_href
from calcifer.web.security import consume_flashes, csrf_token_for

PACKAGE_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = PACKAGE_DIR / "web" / "static"


def _template_dirs() -> list[str]:
    # web/templates first (base layout), then every slice's own templates/ folder.
    dirs = [PACKAGE_DIR / "web" / "templates"]
    dirs += sorted(p for p in PACKAGE_DIR.glob("*/templates") if p.parent.name != "web")
    return [str(d) for d in dirs]


def _static_url(path: str) -> str:
    file = STATIC_DIR / path
    try:
        version = int(file.stat().st_mtime)
    except OSError:
        version = 0
    return f"/static/{path}?v={version}"


def _age(value: dt.datetime | None) -> str:
    """How long ago ``value`` was, in its largest whole unit ("3 hours"; "less than a minute")."""
    if value is None:
        return ""
    seconds = max(0, int((dt.datetime.now(dt.UTC) - value).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "less than a minute"


def _timeago(value: dt.datetime | None) -> str:
    if value is None:
        return "never"
    seconds = int((dt.datetime.now(dt.UTC) - value).total_seconds())
    if seconds < 0:
        return "in the future"
    return "just now" if seconds < 60 else f"{_age(value)} ago"


def _datetime(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _timestamp(value: dt.datetime | None) -> Markup:
    if value is None:
        return Markup("")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        value.isoformat(), _datetime(value), _timeago(value)
    )


def human_status(value: object) -> str:
    """A stored status as people read it: ``in_progress`` -> "In progress", ``down`` -> "Down". The one
    place statuses are worded, so every page says the same thing; the stored value stays in classes and
    ``data-status`` attributes."""
    text = str(getattr(value, "value", value) or "").replace("_", " ").strip()
    return text[:1].upper() + text[1:].lower()


def _safe_url(value: object) -> str:
    # Empty (a link to nothing) rather than None, which Jinja would print as "None".
    return safe_href(value) or ""


@lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    env_templates = Jinja2Templates(directory=_template_dirs())
    env = env_templates.env
    env.globals["static_url"] = _static_url
    env.globals["app_version"] = __version__
    env.globals["has_role"] = has_role
    env.filters["timeago"] = _timeago
    env.filters["datetime"] = _datetime
    env.filters["timestamp"] = _timestamp
    env.filters["human_status"] = human_status
    env.filters["age"] = _age
    # Every variable URL a template writes into href/src goes through this (None when unsafe).
    env.filters["safe_url"] = _safe_url
    return env_templates


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200,
    nav: str = "",
) -> HTMLResponse:
    """Render a page with the context every page needs (user, CSRF token, flashes, active nav)."""
    full: dict[str, Any] = {
        "user": getattr(request.state, "user", None),
        "csrf_token": csrf_token_for(request),
        "flashes": consume_flashes(request),
        "nav_active": nav,
    }
    full.update(context or {})
    return templates().TemplateResponse(request, name, full, status_code=status_code)


def render_fragment(request: Request, name: str, context: dict[str, Any] | None = None) -> HTMLResponse:
    """Render an htmx partial (no flashes consumed)."""
    full: dict[str, Any] = {"user": getattr(request.state, "user", None),
                            "csrf_token": csrf_token_for(request)}
    full.update(context or {})
    return templates().TemplateResponse(request, name, full)

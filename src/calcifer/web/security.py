"""Cookies, CSRF tokens and flash messages for the browser side of the app."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "calcifer_session"
CSRF_COOKIE = "calcifer_csrf"
FLASH_COOKIE = "calcifer_flash"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Flash:
    level: str  # success | info | warning | error
    message: str


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def cookie_secure(request: Request) -> bool:
    forced = request.app.state.ctx.settings.secure_cookies
    return bool(forced) if forced is not None else is_https(request)


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None = None,
               httponly: bool = True) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=httponly, samesite="lax",
                        secure=cookie_secure(request), path="/")


# -- CSRF: the token is an HMAC of a random per-browser cookie, so it is bound to that browser and
# cannot be computed by another site (which can neither read the cookie nor knows the key).

def new_csrf_seed() -> str:
    return secrets.token_urlsafe(24)


def csrf_seed(request: Request) -> str:
    seed: str | None = getattr(request.state, "csrf_seed", None)
    if seed is None:
        seed = request.cookies.get(CSRF_COOKIE) or new_csrf_seed()
        request.state.csrf_seed = seed
    return seed


def csrf_token_for(request: Request) -> str:
    key = request.app.state.ctx.secret_key.encode()
    return hmac.new(key, b"csrf:" + csrf_seed(request).encode(), hashlib.sha256).hexdigest()


def csrf_valid(request: Request, presented: str | None) -> bool:
    if not presented or CSRF_COOKIE not in request.cookies:
        return False
    return hmac.compare_digest(presented, csrf_token_for(request))


# -- flash messages: a signed cookie carried to the next page rendered.

def _sign(request: Request, payload: bytes) -> str:
    key = request.app.state.ctx.secret_key.encode()
    return hmac.new(key, b"flash:" + payload, hashlib.sha256).hexdigest()[:32]


def flash(request: Request, level: str, message: str) -> None:
    pending: list[Flash] = getattr(request.state, "new_flashes", [])
    pending.append(Flash(level, message))
    request.state.new_flashes = pending


def incoming_flashes(request: Request) -> list[Flash]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or "." not in raw:
        return []
    body, signature = raw.rsplit(".", 1)
    try:
        payload = base64.urlsafe_b64decode(body.encode())
    except ValueError:
        return []
    if not hmac.compare_digest(signature, _sign(request, payload)):
        return []
    try:
        items = json.loads(payload)
        return [Flash(str(item["level"]), str(item["message"])) for item in items][:10]
    except (ValueError, KeyError, TypeError):
        return []


def consume_flashes(request: Request) -> list[Flash]:
    """The flashes to show on the page being rendered now (incoming plus this request's)."""
    request.state.flashes_consumed = True
    shown = incoming_flashes(request) + getattr(request.state, "new_flashes", [])
    request.state.new_flashes = []
    return shown


def write_flash_cookie(request: Request, response: Response) -> None:
    pending: list[Flash] = getattr(request.state, "new_flashes", [])
    consumed = getattr(request.state, "flashes_consumed", False)
    if pending:
        carried = [] if consumed else incoming_flashes(request)
        payload = json.dumps([{"level": f.level, "message": f.message} for f in carried + pending]).encode()
        value = base64.urlsafe_b64encode(payload).decode() + "." + _sign(request, payload)
        set_cookie(request, response, FLASH_COOKIE, value, max_age=300)
    elif consumed and FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/")

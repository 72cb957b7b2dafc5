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

# Base names; over https each gets the `__Host-` prefix (see `cookie_name`).
SESSION_COOKIE = "calcifer_session"
CSRF_COOKIE = "calcifer_csrf"  # the signed anonymous pre-session the login and setup forms are bound to
FLASH_COOKIE = "calcifer_flash"
HOST_PREFIX = "__Host-"
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


def cookie_name(request: Request, name: str) -> str:
    """The cookie's name as sent: `__Host-` prefixed when Secure, so that a page on another port or a
    subdomain of this host (which can set plain cookies for it) cannot toss one in."""
    return HOST_PREFIX + name if cookie_secure(request) else name


def get_cookie(request: Request, name: str) -> str | None:
    return request.cookies.get(cookie_name(request, name))


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None = None,
               httponly: bool = True) -> None:
    # No Domain attribute, Path=/: what the `__Host-` prefix requires, and host-only either way.
    response.set_cookie(cookie_name(request, name), value, max_age=max_age, httponly=httponly, samesite="lax",
                        secure=cookie_secure(request), path="/")


def delete_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(cookie_name(request, name), path="/", secure=cookie_secure(request))


def _mac(request: Request, purpose: str, value: str) -> str:
    key = request.app.state.ctx.secret_key.encode()
    return hmac.new(key, purpose.encode() + b":" + value.encode(), hashlib.sha256).hexdigest()


# -- CSRF. A logged-in browser's token is an HMAC of its session's token hash: it changes with every
# login and cannot be obtained for someone else's session. Before login (login and setup forms) the
# token is an HMAC of a pre-session the server issued and signed, so a cookie chosen by another page
# on this host is refused rather than adopted.

def _presession_ok(request: Request, value: str | None) -> bool:
    if not value or "." not in value:
        return False
    nonce, signature = value.rsplit(".", 1)
    return bool(nonce) and hmac.compare_digest(signature, _mac(request, "presession", nonce)[:32])


def has_presession(request: Request) -> bool:
    return _presession_ok(request, get_cookie(request, CSRF_COOKIE))


def presession(request: Request) -> str:
    """This browser's signed pre-session: the valid one it sent, else a new one (set by the middleware)."""
    known: str | None = getattr(request.state, "presession", None)
    if known is not None:
        return known
    sent = get_cookie(request, CSRF_COOKIE)
    if sent is not None and _presession_ok(request, sent):
        value = sent
    else:
        nonce = secrets.token_urlsafe(24)
        value = nonce + "." + _mac(request, "presession", nonce)[:32]
    request.state.presession = value
    return value


def csrf_token_for(request: Request) -> str:
    session_hash: str | None = getattr(request.state, "session_hash", None)
    if session_hash:
        return _mac(request, "csrf-session", session_hash)
    return _mac(request, "csrf-presession", presession(request))


def csrf_valid(request: Request, presented: str | None) -> bool:
    if not presented:
        return False
    if not getattr(request.state, "session_hash", None) and not has_presession(request):
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
    raw = get_cookie(request, FLASH_COOKIE)
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
    elif consumed and get_cookie(request, FLASH_COOKIE) is not None:
        delete_cookie(request, response, FLASH_COOKIE)

"""Request rate limits (the ``limits`` library, moving window, in this process's memory).

The JSON API (``/api/v1/...``) is limited by ``CALCIFER_API_RATE_LIMIT``: per API token for a request
that came with a valid one, else per client address (browser sessions, anonymous callers and unknown
tokens alike). Push heartbeats (``/api/v1/push/...``) and ``/metrics`` are called by scripts and
monitors: they count separately, per address and path, under ``CALCIFER_PUSH_RATE_LIMIT``. A request
over its limit is answered 429 with ``Retry-After`` (seconds) and the house error body, before any route
runs.

The counters live in memory: right for one process. With several worker processes each counts on its
own (a client gets up to workers × the limit); ``limits`` also supports Redis or Memcached storage.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from calcifer.auth.models import User
from calcifer.auth.service import sha256
from calcifer.config import Settings

PUSH_PREFIX = "/api/v1/push/"
# /healthz is never limited: orchestrators and load balancers poll it, and refusing it would get a healthy
# instance restarted.
PROBE_PATHS = frozenset({"/metrics"})


def parse_limit(text: str) -> RateLimitItem:
    """``600/minute``, ``10/second``, ``1000 per hour``...; raises ValueError naming the problem."""
    try:
        return parse(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a rate limit: write e.g. 600/minute or 10/second") from exc


@dataclass
class RateLimits:
    api: RateLimitItem
    push: RateLimitItem
    limiter: MovingWindowRateLimiter


def _limits(request: Request, settings: Settings) -> RateLimits:
    # The counters belong to the app (tests build many apps in one process), made at its first request.
    found: RateLimits | None = getattr(request.app.state, "rate_limits", None)
    if found is None:
        found = RateLimits(api=parse_limit(settings.api_rate_limit), push=parse_limit(settings.push_rate_limit),
                           limiter=MovingWindowRateLimiter(MemoryStorage()))
        request.app.state.rate_limits = found
    return found


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def check(request: Request, settings: Settings, *, user: User | None, token: str | None) -> Response | None:
    """Count this request; a 429 response when it is over its limit, else None."""
    path = request.url.path
    if path.startswith(PUSH_PREFIX) or path in PROBE_PATHS:
        kind, key = "push", f"addr:{_address(request)}|{path}"
    elif path.startswith("/api/"):
        kind = "api"
        key = f"token:{sha256(token)[:32]}" if token and user is not None else f"addr:{_address(request)}"
    else:
        return None
    limits = _limits(request, settings)
    item = limits.api if kind == "api" else limits.push
    if limits.limiter.hit(item, kind, key):
        return None
    reset_at, _ = limits.limiter.get_window_stats(item, kind, key)
    retry_after = max(1, math.ceil(reset_at - time.time()))
    who = "this API token" if key.startswith("token:") else "this address"
    setting = "CALCIFER_API_RATE_LIMIT" if kind == "api" else "CALCIFER_PUSH_RATE_LIMIT"
    return JSONResponse(
        {"error": {"code": "rate_limited",
                   "message": f"Too many requests from {who}: at most {_describe(item)}. Try again in "
                              f"{retry_after} second{'' if retry_after == 1 else 's'}.",
                   "details": {"limit": str(item), "retry_after": retry_after, "setting": setting}}},
        status_code=429, headers={"Retry-After": str(retry_after)})


def _describe(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    per = f"{item.multiples} {unit}s" if item.multiples != 1 else unit
    return f"{item.amount} requests per {per}"

"""Signing and sending one delivery: the headers every receiver gets and one POST with aiohttp.

``X-Calcifer-Signature`` is ``sha256=`` + HMAC-SHA256(secret, ``<timestamp>.<body>``) in hex, the
timestamp being ``X-Calcifer-Timestamp`` (Unix seconds of this attempt): a receiver recomputes it over
the raw body and refuses old timestamps to stop replays.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from dataclasses import dataclass

import aiohttp

from calcifer import __version__

USER_AGENT = f"Calcifer-Webhooks/{__version__}"
RESPONSE_READ_MAX = 64 * 1024  # a receiver's answer is read (to reuse the connection), never kept


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with ``secret`` over ``<timestamp>.<body>``."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def headers(*, secret: str, event: str, delivery: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Calcifer-Event": event,
            "X-Calcifer-Delivery": delivery, "X-Calcifer-Timestamp": str(stamp),
            "X-Calcifer-Signature": signature(secret, stamp, body)}


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST did: ``ok`` for a 2xx answer; ``error`` says what went wrong otherwise."""

    ok: bool
    code: int | None
    ms: int
    error: str = ""


async def post(http: aiohttp.ClientSession, *, url: str, secret: str, event: str, delivery: str, body: str,
               timeout: float) -> Attempt:
    """POST ``body`` to ``url``, signed; never raises (a failure is an ``Attempt`` with ``ok`` False)."""
    data = body.encode()
    started = time.perf_counter()
    try:
        async with http.post(url, data=data, allow_redirects=False,
                             headers=headers(secret=secret, event=event, delivery=delivery, body=data),
                             timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            await response.content.read(RESPONSE_READ_MAX)
            ms = int((time.perf_counter() - started) * 1000)
            if 200 <= response.status < 300:
                return Attempt(True, response.status, ms)
            return Attempt(False, response.status, ms, f"the receiver answered HTTP {response.status}")
    except TimeoutError:
        return Attempt(False, None, int((time.perf_counter() - started) * 1000),
                       f"no answer within {timeout:g} s")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        text = str(exc) or type(exc).__name__
        return Attempt(False, None, int((time.perf_counter() - started) * 1000),
                       f"{type(exc).__name__}: {text}"[:500])
    except asyncio.CancelledError:
        raise


def new_session(*, limit: int = 0) -> aiohttp.ClientSession:
    """The one HTTP session a deliverer shares between all its sends (connections kept alive per host)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300),
                                 headers={"User-Agent": USER_AGENT})

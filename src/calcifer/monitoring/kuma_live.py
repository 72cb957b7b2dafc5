"""The live link to Uptime Kuma: an endpoint whose ``kuma:`` names a Kuma ``url`` and ``monitor`` shows
that monitor's status on its page, next to Calcifer's.

Kuma serves it as its status badge, ``GET <kuma>/api/badge/<monitor>/status`` (an SVG whose title reads
"Status: Up" / "Down" / "Pending" / "Maintenance", or "N/A" when the monitor is on no public status
page). It is fetched server-side with a short timeout and kept for ``TTL_S``; the endpoint page loads it
as a fragment after the page itself (htmx), so a slow or dead Kuma never holds the page up.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TIMEOUT_S = 2.0
TTL_S = 60.0
MAX_BYTES = 64 * 1024
_TITLE = re.compile(r"<title>\s*([^<]{0,200}?)\s*</title>", re.IGNORECASE)
STATES = {"up": "up", "down": "down", "pending": "pending", "maintenance": "maintenance"}


@dataclass(frozen=True)
class KumaLink:
    url: str
    monitor: int

    @property
    def badge_url(self) -> str:
        return f"{self.url.rstrip('/')}/api/badge/{self.monitor}/status"

    @property
    def monitor_url(self) -> str:
        return f"{self.url.rstrip('/')}/dashboard/{self.monitor}"


@dataclass(frozen=True)
class KumaStatus:
    state: str   # up, down, pending, maintenance, unknown
    text: str    # what Kuma said, or why we could not ask


def link(spec: Mapping[str, Any] | None) -> KumaLink | None:
    kuma = (spec or {}).get("kuma") or {}
    if not kuma.get("url") or not kuma.get("monitor"):
        return None
    return KumaLink(str(kuma["url"]), int(kuma["monitor"]))


def parse_badge(svg: str) -> KumaStatus:
    """The status a Kuma status badge shows (its <title>, "Status: Up")."""
    match = _TITLE.search(svg)
    if not match:
        return KumaStatus("unknown", "Kuma's answer was not a status badge")
    value = match.group(1).rsplit(":", 1)[-1].strip()
    state = STATES.get(value.lower())
    if state is None:
        if value.upper() == "N/A":
            return KumaStatus("unknown", "N/A: Kuma publishes the status of monitors on a public status page only")
        return KumaStatus("unknown", value[:60])
    return KumaStatus(state, value)


_cache: dict[str, tuple[float, KumaStatus]] = {}
_lock = threading.Lock()


def status(kuma: KumaLink, *, timeout: float = TIMEOUT_S, now: float | None = None) -> KumaStatus:
    """The monitor's status in Kuma, from the cache when fetched in the last ``TTL_S`` seconds."""
    clock = time.monotonic() if now is None else now
    with _lock:
        known = _cache.get(kuma.badge_url)
    if known is not None and clock - known[0] < TTL_S:
        return known[1]
    found = _fetch(kuma, timeout)
    with _lock:
        if len(_cache) > 1000:
            _cache.clear()
        _cache[kuma.badge_url] = (clock, found)
    return found


def _fetch(kuma: KumaLink, timeout: float) -> KumaStatus:
    request = urllib.request.Request(kuma.badge_url, headers={"User-Agent": "Calcifer", "Accept": "image/svg+xml"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - an http(s) catalog URL
            return parse_badge(answer.read(MAX_BYTES).decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        return KumaStatus("unknown", f"Kuma answered HTTP {exc.code}")
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        return KumaStatus("unknown", f"Kuma could not be reached ({str(reason)[:80]})")

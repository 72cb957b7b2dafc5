"""Grafana links of services and endpoints: which panels a page embeds, and the ``d-solo`` URL of each.

A dashboard is embedded only when its origin is one of ``CALCIFER_GRAFANA_ORIGINS``; the page then
answers with a Content-Security-Policy whose ``frame-src`` lists exactly those origins
(``web.headers.policy_with_frames``). Links elsewhere show as links only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


@dataclass(frozen=True)
class Embed:
    label: str
    url: str                      # the dashboard (a link)
    panels: tuple[tuple[int, str], ...]  # (panel id, its d-solo URL) when the origin is allowed
    allowed: bool


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def normalise_origins(origins: Iterable[str]) -> list[str]:
    return sorted({origin(o.strip()) for o in origins if o.strip().startswith(("http://", "https://"))})


def solo_url(url: str, panel: int, variables: Mapping[str, str]) -> str:
    """``https://g/d/UID/name?orgId=1`` → ``https://g/d-solo/UID/name?orgId=1&panelId=N&var-x=y``."""
    parts = urlsplit(url)
    path = parts.path.replace("/d/", "/d-solo/", 1)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "panelId" and k != "viewPanel"]
    query += [("panelId", str(panel))] + [(f"var-{k}", v) for k, v in variables.items()]
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))


def embeds(spec: Mapping[str, Any] | None, allowed_origins: Iterable[str]) -> list[Embed]:
    """The Grafana links of a catalog spec (service or endpoint), each with its panels' frame URLs."""
    allowed = set(normalise_origins(allowed_origins))
    found = []
    for link in (spec or {}).get("links") or []:
        if link.get("kind") != "grafana":
            continue
        url = str(link.get("url") or "")
        ok = origin(url) in allowed
        variables = dict(link.get("variables") or {})
        panels = tuple((int(p), solo_url(url, int(p), variables)) for p in link.get("panels") or []) if ok else ()
        found.append(Embed(str(link.get("label") or "Grafana"), url, panels, ok))
    return found

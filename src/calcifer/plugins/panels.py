"""Rendering the panels plugins add to service, endpoint and work-item pages.

Each panel's template is rendered in a sandboxed, autoescaping Jinja environment of its own (a plugin's
template sees only what its data function returned, plus ``subject``). A data function or template
that fails shows as a failed panel; the page itself always renders.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from calcifer.plugins import registry

log = logging.getLogger("calcifer.plugins")


@dataclass(frozen=True)
class RenderedPanel:
    plugin: str
    name: str
    title: str
    html: Markup
    error: str = ""


@lru_cache(maxsize=1)
def _env() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=True)


def render_panels(*, session: Any, page: str, subject: str) -> list[RenderedPanel]:
    """Every enabled plugin's panels for ``page`` (a ``choices.PanelPage``), in registration order."""
    rendered = []
    for panel in registry.PANELS:
        if panel.page != page or not registry.enabled(panel.plugin):
            continue
        try:
            data = dict(panel.data(session=session, subject=subject))
            html = Markup(_env().from_string(panel.template).render(subject=subject, **data))
            rendered.append(RenderedPanel(panel.plugin, panel.name, panel.title, html))
        except Exception:  # noqa: BLE001 - a plugin's bug must not break the page
            log.exception("panel %s of plugin %s failed", panel.name, panel.plugin)
            rendered.append(RenderedPanel(panel.plugin, panel.name, panel.title, Markup(""),
                                          error="This panel failed to render (see the server log)."))
    return rendered

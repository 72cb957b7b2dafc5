"""The plugin interface's shapes, and which plugins are switched off (no database, no other slice).

A plugin is a distribution with ``calcifer.plugins`` entry points (a function receiving the ``Wiring``
being built, see ``calcifer.wiring``) and/or ``calcifer.checks`` entry points (check types). What a
plugin registers through the ``Wiring.add_*`` methods is stamped with the distribution's name, so it
can be switched off at run time: ``DISABLED`` is this process's view of the toggles admins set under
Settings → Integrations (refreshed from the database by ``plugins.service``). Built-ins carry
``BUILTIN`` and are never switched off. See docs/plugins.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

BUILTIN = "calcifer"

# The names of the plugins switched off, as last read from the database (plugin_states).
DISABLED: set[str] = set()


def enabled(plugin: str) -> bool:
    """Whether what ``plugin`` registered runs (built-ins always do)."""
    return plugin == BUILTIN or plugin not in DISABLED


class PanelData(Protocol):
    """Returns the variables of a panel's template for one page (``subject``: the page's slug or id).
    May read the database through ``session``; raising shows the panel as failed, never breaks the page."""

    def __call__(self, *, session: Any, subject: str) -> Mapping[str, Any]: ...


class EventHandler(Protocol):
    """Receives one domain event (``calcifer.outbox.service.OutboxEvent``: id, name, occurred_at,
    service, category, data), after the change that caused it committed."""

    def __call__(self, event: Any) -> None: ...


@dataclass(frozen=True)
class Panel:
    """An extra card on a service, endpoint or work-item page: ``template`` is Jinja source rendered
    (autoescaped, sandboxed) with what ``data`` returns."""

    plugin: str
    page: str            # choices.PanelPage
    name: str
    title: str
    template: str
    data: PanelData


@dataclass(frozen=True)
class Subscriber:
    """An event subscriber: ``handle`` is called for every event whose name is in ``events`` (all when
    empty), at most once per event, by the plugin event consumer (a background service)."""

    plugin: str
    name: str
    handle: EventHandler
    events: tuple[str, ...] = ()


@dataclass(frozen=True)
class Command:
    """A ``calcifer <name>`` command: ``callback`` is a typer command function (its parameters become
    the command's arguments and options)."""

    plugin: str
    name: str
    callback: Callable[..., Any]
    help: str = ""


@dataclass
class PluginInfo:
    """One installed distribution that extends Calcifer, and what it provides (``check type dns``,
    ``channel type apprise``, ``panel on service: ...``...)."""

    name: str
    version: str
    provides: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def builtin(self) -> bool:
        return self.name == BUILTIN


# What ``calcifer.wiring.install`` put in place for this process.
PANELS: list[Panel] = []
SUBSCRIBERS: list[Subscriber] = []
COMMANDS: list[Command] = []
INSTALLED: list[PluginInfo] = []

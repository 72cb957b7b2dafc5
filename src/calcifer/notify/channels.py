"""The registry of notification channel types: what sends a channel's messages, picked by the scheme of
the channel's URL (``example://...``). ``calcifer.wiring`` fills ``CHANNEL_TYPES`` (the built-in apprise
type, then the plugins'); a type with no ``schemes`` takes every URL nobody else claims (apprise).
A type whose plugin is switched off (Settings → Integrations) is skipped: its URLs are refused, and
its queued messages fail with a message saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from calcifer.plugins import registry as plugins


class ChannelType(Protocol):
    """One kind of channel. ``check_url`` returns what is wrong with a URL (None: usable), never
    repeating the URL; ``send`` returns ``(ok, error)`` and never raises for a failed delivery (the
    caller scrubs the URL's secrets from the error)."""

    kind: str
    schemes: tuple[str, ...]

    def check_url(self, url: str) -> str | None: ...

    def send(self, url: str, *, title: str, body: str, kind: str, timeout: float) -> tuple[bool, str]: ...


@dataclass(frozen=True)
class RegisteredChannelType:
    plugin: str
    channel: ChannelType


CHANNEL_TYPES: list[RegisteredChannelType] = []


def scheme_of(url: str) -> str:
    try:
        return urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return ""


@dataclass(frozen=True)
class Resolved:
    """The channel type a URL goes to, or why none does."""

    channel: ChannelType | None
    problem: str = ""


def resolve(url: str) -> Resolved:
    """The channel type for ``url``: the first registered type that claims its scheme, else the first
    catch-all type; a claiming type whose plugin is switched off refuses the URL."""
    scheme = scheme_of(url)
    for entry in CHANNEL_TYPES:
        if scheme and scheme in entry.channel.schemes:
            if not plugins.enabled(entry.plugin):
                return Resolved(None, f"the channel type {entry.channel.kind!r} comes from the plugin "
                                      f"{entry.plugin!r}, which is disabled (Settings → Integrations)")
            return Resolved(entry.channel)
    for entry in CHANNEL_TYPES:
        if not entry.channel.schemes and plugins.enabled(entry.plugin):
            return Resolved(entry.channel)
    return Resolved(None, "no channel type handles this URL")


def kinds() -> list[tuple[str, str, tuple[str, ...]]]:
    """Every registered channel type as ``(plugin, kind, schemes)``."""
    return [(e.plugin, e.channel.kind, e.channel.schemes) for e in CHANNEL_TYPES]

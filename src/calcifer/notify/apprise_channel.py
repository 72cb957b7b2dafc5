"""The built-in channel type: apprise, which knows a hundred services by their URL scheme. It registers
in ``calcifer.wiring`` through the same list plugins' channel types join."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import apprise

from calcifer.notify.choices import DeliveryKind

_parsing = threading.local()


class _QuietWhileParsing(logging.Filter):
    """Apprise logs a URL it cannot parse, whole, at ERROR: with the token or password in it. While this
    thread parses a person's URL its records are dropped (the caller words the problem without the URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_parsing, "active", False)


logging.getLogger("apprise").addFilter(_QuietWhileParsing())


@contextmanager
def _parsing_url() -> Iterator[None]:
    _parsing.active = True
    try:
        yield
    finally:
        _parsing.active = False


def _sender(url: str) -> apprise.Apprise | None:
    sender = apprise.Apprise()
    with _parsing_url():
        return sender if sender.add(url) else None

# What apprise calls the message's type: JSON and webhook receivers read it as "type" to tell an outage
# ("failure") from a recovery ("success") without parsing the title.
NOTIFY_TYPES: dict[str, apprise.NotifyType] = {
    DeliveryKind.DOWN.value: apprise.NotifyType.FAILURE,
    DeliveryKind.REMINDER.value: apprise.NotifyType.FAILURE,
    DeliveryKind.RECOVERY.value: apprise.NotifyType.SUCCESS,
    DeliveryKind.DEGRADED.value: apprise.NotifyType.WARNING,
    DeliveryKind.CERT_EXPIRY.value: apprise.NotifyType.WARNING,
    DeliveryKind.TEST.value: apprise.NotifyType.INFO,
}


class AppriseChannel:
    kind = "apprise"
    schemes: tuple[str, ...] = ()  # every URL no other channel type claims

    def check_url(self, url: str) -> str | None:
        if _sender(url) is None:
            return "Apprise does not recognise this URL"
        return None

    def send(self, url: str, *, title: str, body: str, kind: str, timeout: float) -> tuple[bool, str]:
        sender = _sender(url)
        if sender is None:
            return False, "apprise does not recognise the channel's URL"
        result = sender.notify(title=title, body=body, notify_type=NOTIFY_TYPES.get(kind, apprise.NotifyType.INFO),
                               timeout=timeout)
        if result:
            return True, ""
        messages = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
        return False, "; ".join(dict.fromkeys(messages)) or "apprise reported a failure"

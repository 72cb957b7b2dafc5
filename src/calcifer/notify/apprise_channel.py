"""The built-in channel type: apprise, which knows a hundred services by their URL scheme. It registers
in ``calcifer.wiring`` through the same list plugins' channel types join."""

from __future__ import annotations

import apprise

from calcifer.notify.choices import DeliveryKind

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
        if not apprise.Apprise().add(url):
            return "Apprise does not recognise this URL"
        return None

    def send(self, url: str, *, title: str, body: str, kind: str, timeout: float) -> tuple[bool, str]:
        sender = apprise.Apprise()
        if not sender.add(url):
            return False, "apprise does not recognise the channel's URL"
        result = sender.notify(title=title, body=body, notify_type=NOTIFY_TYPES.get(kind, apprise.NotifyType.INFO),
                               timeout=timeout)
        if result:
            return True, ""
        messages = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
        return False, "; ".join(dict.fromkeys(messages)) or "apprise reported a failure"

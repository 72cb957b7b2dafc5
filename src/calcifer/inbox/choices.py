"""Kinds of personal notifications and the channels they go out on."""

from __future__ import annotations

from enum import StrEnum


class NotificationKind(StrEnum):
    ASSIGNED = "assigned"
    MENTION = "mention"
    REVIEW_REQUESTED = "review_requested"
    REVIEWED = "reviewed"
    MERGED = "merged"
    CANCELLED = "cancelled"
    COMMENT = "comment"
    INCIDENT = "incident"


KIND_LABELS: dict[str, str] = {
    NotificationKind.ASSIGNED: "A work item is assigned to you",
    NotificationKind.MENTION: "Someone mentions you",
    NotificationKind.REVIEW_REQUESTED: "A review is requested on a work item you watch",
    NotificationKind.REVIEWED: "Your work item is reviewed",
    NotificationKind.MERGED: "A work item you watch is merged",
    NotificationKind.CANCELLED: "A work item you watch is cancelled",
    NotificationKind.COMMENT: "A comment on something you watch",
    NotificationKind.INCIDENT: "An incident on a service you own or watch",
}


class Channel(StrEnum):
    IN_APP = "in_app"
    EMAIL = "email"
    APPRISE = "apprise"


class MailState(StrEnum):
    NONE = "none"        # not to be mailed (preference off, no address)
    PENDING = "pending"  # waits for the next mail to its person
    CLAIMED = "claimed"  # a sender took it
    SENT = "sent"


# Defaults: in-app for everything, e-mail for what needs someone, apprise off until a URL is set.
DEFAULT_PREFERENCES: dict[str, dict[str, bool]] = {
    kind.value: {Channel.IN_APP.value: True,
                 Channel.EMAIL.value: kind in (NotificationKind.ASSIGNED, NotificationKind.MENTION,
                                               NotificationKind.REVIEW_REQUESTED, NotificationKind.REVIEWED,
                                               NotificationKind.MERGED, NotificationKind.CANCELLED,
                                               NotificationKind.INCIDENT, NotificationKind.COMMENT),
                 Channel.APPRISE.value: True}
    for kind in NotificationKind
}

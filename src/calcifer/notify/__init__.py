"""Notifications: apprise channels, routing, delivery (at most one message per event per channel)."""

"""Choices of the changelog slice."""

from __future__ import annotations

from enum import StrEnum


class ChangeType(StrEnum):
    """Keep a Changelog's types of change, in the order their ``###`` headings are written.

    The values are the heading words.
    """

    ADDED = "Added"
    CHANGED = "Changed"
    DEPRECATED = "Deprecated"
    REMOVED = "Removed"
    FIXED = "Fixed"
    SECURITY = "Security"

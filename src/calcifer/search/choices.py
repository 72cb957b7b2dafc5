"""Choices of the search slice."""

from __future__ import annotations

from enum import StrEnum


class SearchKind(StrEnum):
    """What a search result is; the value is the ``kind`` of its row and of the API's items."""

    DOC = "doc"
    SERVICE = "service"
    ENDPOINT = "endpoint"
    WORK_ITEM = "work_item"
    CHANGELOG = "changelog"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def code(self) -> int:
        """A small number that never changes: on SQLite a row's id is ``code << KIND_SHIFT | n``."""
        return _CODES[self]


# Stored in ids on SQLite: never renumber (a changed code needs `refresh(force=True)` after emptying).
_CODES = {
    "doc": 1,
    "service": 2,
    "endpoint": 3,
    "work_item": 4,
    "changelog": 5,
}
KIND_SHIFT = 40


_LABELS: dict[str, str] = {
    SearchKind.DOC: "Docs",
    SearchKind.SERVICE: "Services",
    SearchKind.ENDPOINT: "Endpoints",
    SearchKind.WORK_ITEM: "Work items",
    SearchKind.CHANGELOG: "Changelog",
}

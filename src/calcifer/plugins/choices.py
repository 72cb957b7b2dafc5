"""Where plugin panels may appear."""

from __future__ import annotations

from enum import StrEnum


class PanelPage(StrEnum):
    """The pages that render every panel registered for them (``subject`` is the slug or the id)."""

    SERVICE = "service"        # /services/{slug}; subject: the service's slug
    ENDPOINT = "endpoint"      # /monitoring/endpoints/{slug}; subject: the endpoint's slug
    WORK_ITEM = "work_item"    # /work/{id}; subject: the work item's id, as text

"""API shapes of the search slice."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SearchHitPublic(BaseModel):
    kind: str = Field(description="doc, service, endpoint, work_item or changelog")
    key: str = Field(description="the doc's path, the service's or endpoint's slug, the work item's id, "
                                 "or the changelog entry's hash")
    title: str
    url: str
    meta: str = Field(description="one line of context: path, status, type, section...")
    snippet: str = Field(description="HTML: the matching text, escaped, with the matched words in <mark>")
    score: float = Field(description="higher is better; comparable within one response only")


class SearchResponse(BaseModel):
    items: list[SearchHitPublic]
    total: int = Field(description="matches in all (with the kind filter)")
    counts: dict[str, int] = Field(description="matches by kind, without the kind filter")
    next_cursor: str | None = None

"""Walking a paged list of the JSON API the way a client does: `cursor` in, `next_cursor` out."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from calcifer.listing import encode_cursor


def walk_pages(client: TestClient, path: str, *, limit: int, items: str = "items",
               params: dict[str, Any] | None = None) -> list[list[Any]]:
    """Every page of ``path`` (``items`` names the list in each answer), following next_cursor to the end."""
    pages: list[list[Any]] = []
    cursor: str | None = None
    while True:
        query: dict[str, Any] = {**(params or {}), "limit": limit} | ({"cursor": cursor} if cursor else {})
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "next_cursor" in body, body
        pages.append(body[items])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert isinstance(cursor, str) and len(pages[-1]) == limit, body
        assert len(pages) < 50, "the cursor never ran out"


def assert_bad_cursor_refused(client: TestClient, path: str) -> None:
    """A cursor the list never gave out is a 422 with a sentence, whatever it looks like."""
    for cursor in ("not a cursor", "%%%", encode_cursor([]), encode_cursor([None]), encode_cursor([True]),
                   encode_cursor([{"id": 1}]), encode_cursor([2**80]), encode_cursor([1, "a", 2, "b", 3])):
        response = client.get(path, params={"cursor": cursor})
        assert response.status_code == 422, (cursor, response.text)
        error = response.json()["error"]
        assert error["code"] == "bad_cursor" and error["message"].endswith("."), error

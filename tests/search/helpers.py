"""Helpers for the search tests: put files on main the way a person would, and search through the API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.work.helpers import finish_documentation, make_work_item


def land(client: TestClient, files: dict[str, str | None], *, title: str = "Write docs",
         entry: str = "Documented the setup", entry_type: str = "Added") -> dict[str, Any]:
    """A work item that writes (or, for None, deletes) `files`, commits with a changelog entry, ticks its
    checklist, writes notes and merges. Returns the completed work item."""
    item = make_work_item(client, title=title)
    for path, content in files.items():
        if content is None:
            response = client.delete(f"/api/v1/work-items/{item['id']}/files/{path}")
            assert response.status_code == 204, response.text
        else:
            response = client.put(f"/api/v1/work-items/{item['id']}/files/{path}", json={"content": content})
            assert response.status_code in (200, 201), response.text
    commit = client.post(f"/api/v1/work-items/{item['id']}/commits",
                         json={"message": title, "changelog": {"type": entry_type, "text": entry}})
    assert commit.status_code == 201, commit.text
    finish_documentation(client, item)
    merged = client.post(f"/api/v1/work-items/{item['id']}/merge")
    assert merged.status_code == 200, merged.text
    return dict(merged.json())


def search(client: TestClient, q: str, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return dict(response.json())


# Completing a work item may also write its work-log page under docs/ (the docs slice's merge hook);
# those pages are found too, and most tests look past them.
WORK_LOG = "docs/work-log/"


def keys(client: TestClient, q: str, *, work_log: bool = False, **params: Any) -> list[tuple[str, str]]:
    """(kind, key) of each result, best first; without work-log pages unless `work_log`."""
    return [(hit["kind"], hit["key"]) for hit in search(client, q, **params)["items"]
            if work_log or not hit["key"].startswith(WORK_LOG)]

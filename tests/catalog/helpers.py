"""Helpers for the catalog's end-to-end tests: work items driven through the JSON API, checked with git."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.work.helpers import finish_documentation, git, make_work_item, write_and_commit

__all__ = ["finish_documentation", "git", "make_work_item", "write_and_commit", "merge", "land_files",
           "changes_on", "service_spec", "error_of", "main_commit", "commit_count"]


def merge(client: TestClient, item: dict[str, Any]) -> dict[str, Any]:
    """Merge and complete `item`; asserts it worked and returns the completed work item."""
    response = client.post(f"/api/v1/work-items/{item['id']}/merge")
    assert response.status_code == 200, response.text
    merged = response.json()
    assert merged["status"] == "complete", merged
    return dict(merged)


def land_files(client: TestClient, files: dict[str, str], *, title: str = "Catalog files",
               entry: str = "Added catalog files", entry_type: str = "Added") -> dict[str, Any]:
    """Put `files` (path → raw text) on main the way a person would: a work item, one commit with a
    changelog entry, the checklist ticked, notes written, merged. Returns the completed work item."""
    item = make_work_item(client, title=title)
    for path, content in files.items():
        response = client.put(f"/api/v1/work-items/{item['id']}/files/{path}", json={"content": content})
        assert response.status_code in (200, 201), response.text
    commit = client.post(f"/api/v1/work-items/{item['id']}/commits",
                         json={"message": title, "changelog": {"type": entry_type, "text": entry}})
    assert commit.status_code == 201, commit.text
    finish_documentation(client, item)
    return merge(client, item)


def changes_on(repo: Path, ref: str) -> str:
    """CHANGES.md as git has it at `ref`."""
    return git(repo, "show", f"{ref}:CHANGES.md")


def main_commit(repo: Path) -> str:
    return git(repo, "rev-parse", "refs/heads/main").strip()


def commit_count(repo: Path, ref: str = "main") -> int:
    return int(git(repo, "rev-list", "--count", ref).strip())


def service_spec(slug: str, **fields: Any) -> dict[str, Any]:
    """A small valid service spec (a JSON body for the API)."""
    return {"name": slug.replace("-", " ").title(), "slug": slug, "kind": "container", **fields}


def error_of(response: Any, status: int) -> dict[str, Any]:
    """The `error` object of a JSON error answer, after checking its status and shape."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"], body
    assert isinstance(error.get("message"), str) and error["message"].strip(), body
    return dict(error)

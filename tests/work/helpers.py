"""Plain factory functions for work-item tests, and `git` CLI helpers to check results with git itself."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient


def git(repo: Path, *args: str) -> str:
    """Run the real git CLI against the managed bare repository (argument list, never a shell)."""
    result = subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, text=True, check=True)
    return result.stdout


def make_work_item(client: TestClient, title: str = "Add grafana", category: str = "service",
                   action: str = "new", **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/work-items", json={"title": title, "category": category, "action": action,
                                                        **extra})
    assert response.status_code == 201, response.text
    return response.json()


def finish_documentation(client: TestClient, item: dict[str, Any], notes: str = "Deployed; roll back by "
                         "reverting the merge.") -> None:
    """Tick every checklist item and write the notes."""
    for index in range(len(item["checklist"])):
        assert client.put(f"/api/v1/work-items/{item['id']}/checklist/{index}",
                          json={"done": True}).status_code == 200
    assert client.patch(f"/api/v1/work-items/{item['id']}", json={"notes": notes}).status_code == 200


def write_and_commit(client: TestClient, item: dict[str, Any], path: str, content: str,
                     entry: str | None = "Added something", entry_type: str = "Added",
                     message: str | None = None) -> str:
    assert client.put(f"/api/v1/work-items/{item['id']}/files/{path}",
                      json={"content": content}).status_code in (200, 201)
    body: dict[str, Any] = {"message": message or f"Write {path}"}
    if entry:
        body["changelog"] = {"type": entry_type, "text": entry}
    response = client.post(f"/api/v1/work-items/{item['id']}/commits", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def ready_item(client: TestClient, title: str, path: str, content: str, entry: str) -> dict[str, Any]:
    item = make_work_item(client, title=title)
    write_and_commit(client, item, path, content, entry=entry)
    finish_documentation(client, item)
    return item

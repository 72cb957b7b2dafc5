"""The dashboard's latest changes are in the order they reached main: by the merge of the work item
that wrote each entry, newest first, across the changelog's dated headings and its type headings."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi.testclient import TestClient

from tests.catalog.helpers import land_files, merge
from tests.conftest import Cast
from tests.work.helpers import finish_documentation, make_work_item


def latest(client: TestClient) -> list[str]:
    page = client.get("/").text
    listing = page.split('id="latest-changes"')[1].split("</ul>")[0]
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", li))).strip()
            for li in re.findall(r"<li>(.*?)</li>", listing, re.S)]


def written_long_ago(client: TestClient, text: str) -> dict[str, Any]:
    """A work item whose CHANGES.md entry sits under an old date (written by hand on its branch)."""
    item = make_work_item(client, title="Fix the backup job")
    current = client.get(f"/api/v1/work-items/{item['id']}/files/CHANGES.md").json()["content"]
    entry = f"\n## 2024-03-01\n\n### Fixed\n\n- {text} ([#{item['id']}](/work/{item['id']}))\n"
    assert client.put(f"/api/v1/work-items/{item['id']}/files/CHANGES.md",
                      json={"content": current.rstrip("\n") + "\n" + entry}).status_code == 200
    assert client.post(f"/api/v1/work-items/{item['id']}/commits",
                       json={"message": "Fix the backup job"}).status_code == 201
    finish_documentation(client, item)
    return item


def test_latest_changes_are_newest_merge_first_across_headings_and_dates(cast: Cast) -> None:
    editor = cast.editor
    old = written_long_ago(editor, "Backups run again")  # committed now, merged last
    land_files(editor, {"docs/a.md": "# A\n"}, title="Doc A", entry="Doc A", entry_type="Added")
    land_files(editor, {"docs/b.md": "# B\n"}, title="Doc B", entry="Doc B", entry_type="Changed")
    land_files(editor, {"docs/c.md": "# C\n"}, title="Doc C", entry="Doc C", entry_type="Added")
    merge(editor, old)
    shown = latest(cast.viewer)
    texts = [re.sub(r"^(Added|Changed|Fixed) ", "", line).split(" #")[0] for line in shown]
    assert texts == ["Backups run again", "Doc C", "Doc B", "Doc A"], shown
    assert all("merged" in line for line in shown), shown

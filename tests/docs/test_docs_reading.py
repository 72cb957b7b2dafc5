"""Reading docs on main: tree, view, history, diff, backlinks, raw images, the changelog, and hostile paths.

Docs reach main the way people put them there: a work item, a commit with a changelog entry, the
checklist and notes done, merged. Files a work item cannot write (binary images, symlinks) are
committed to main directly with pygit2.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path
from typing import Any

import pygit2
import pytest
from fastapi.testclient import TestClient
from pygit2.enums import FileMode

from calcifer.docs import history as docs_history
from calcifer.docs import views as docs_views
from calcifer.docs.models import DocsState
from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.paging import assert_bad_cursor_refused, walk_pages
from tests.work.helpers import finish_documentation, git, make_work_item

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND"
       b"\xaeB`\x82")
GRAFANA_SERVICE = """name: Grafana
slug: grafana
kind: container
links:
  - label: Backup runbook
    url: https://calcifer.example.org/docs/view/docs/runbooks/backup.md
"""


def land(client: TestClient, files: dict[str, str], *, title: str = "Docs", entry: str = "Wrote docs",
         entry_type: str = "Added", **extra: Any) -> dict[str, Any]:
    """Put `files` on main through a work item (one commit with a changelog entry, then merge)."""
    item = make_work_item(client, title=title, **extra)
    for path, content in files.items():
        response = client.put(f"/api/v1/work-items/{item['id']}/files/{path}", json={"content": content})
        assert response.status_code in (200, 201), response.text
    response = client.post(f"/api/v1/work-items/{item['id']}/commits",
                           json={"message": title, "changelog": {"type": entry_type, "text": entry}})
    assert response.status_code == 201, response.text
    finish_documentation(client, item)
    merged = client.post(f"/api/v1/work-items/{item['id']}/merge")
    assert merged.status_code == 200, merged.text
    return dict(merged.json())


def commit_on_main(repo_path: Path, files: dict[str, tuple[int, bytes]], message: str = "Direct commit") -> str:
    """A commit on main made outside Calcifer (for what a work item cannot write: binaries, symlinks)."""
    repo = pygit2.Repository(str(repo_path))
    main = repo.references["refs/heads/main"].peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(main.tree)
    for path, (mode, data) in files.items():
        index.add(pygit2.IndexEntry(path, repo.create_blob(data), mode))
    sig = pygit2.Signature("Outside", "outside@example.org")
    return str(repo.create_commit("refs/heads/main", sig, sig, message, index.write_tree(repo), [main.id]))


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:500])
    error = response.json()["error"]
    assert error["message"].strip()
    return dict(error)


def own_docs(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Leave out the work-log entries every merge writes (docs/work-log/, the writing half's)."""
    return [d for d in items if not d["path"].startswith("docs/work-log/")]


def main_tip(ctx: AppContext) -> str:
    return git(ctx.repo_path, "rev-parse", "refs/heads/main").strip()


# -- tree -------------------------------------------------------------------------------------------------------

def test_tree_lists_docs_by_folder_with_titles_and_templates_apart(cast: Cast, ctx: AppContext) -> None:
    land(cast.editor, {
        "docs/index.md": "# Welcome\n",
        "docs/runbooks/backup.md": "---\ntitle: Backups\n---\n# Heading is not the title\n",
        "docs/runbooks/restore.md": "No heading here.\n",
        "docs/_templates/runbook.md": "# {{title}}\n\n## Steps\n",
    })
    api = cast.viewer.get("/api/v1/docs").json()
    assert [(d["path"], d["title"]) for d in own_docs(api["items"])] == [
        ("docs/index.md", "Welcome"), ("docs/runbooks/backup.md", "Backups"),
        ("docs/runbooks/restore.md", "restore.md")]
    assert all(d["updated_at"] and d["commit"] == main_tip(ctx) for d in api["items"])
    assert api["next_cursor"] is None
    templates = cast.viewer.get("/api/v1/docs", params={"templates": "true"}).json()["items"]
    assert [t["path"] for t in templates if t["path"] == "docs/_templates/runbook.md"]

    page = cast.viewer.get("/docs")
    assert page.status_code == 200
    tree = page.text.split('id="docs-tree"')[1].split("</table>")[0]
    assert 'data-folder="docs/runbooks"' in tree and "2 docs" in tree and "_templates" not in tree
    assert 'data-doc="docs/index.md"' in tree and ">Welcome</a>" in tree and "Backups" not in tree
    folder_page = cast.viewer.get("/docs", params={"prefix": "docs/runbooks"}).text
    crumbs = folder_page.split('class="breadcrumbs"')[1].split("</nav>")[0]
    assert crumbs.count("runbooks") == 1 and '<a href="/docs">docs</a>' in crumbs
    folder = folder_page.split('id="docs-tree"')[1]
    assert ">Backups</a>" in folder and ">restore.md</a>" in folder and 'id="doc-templates"' not in folder
    templates_card = page.text.split('id="doc-templates"')[1]
    assert "docs/_templates/runbook.md" in templates_card
    assert 'href="/changelog"' in page.text
    assert 'href="/docs/new"' not in page.text  # viewers do not write docs
    assert 'href="/docs/new"' in cast.editor.get("/docs").text


def test_tree_pages_and_filters_by_folder(cast: Cast) -> None:
    land(cast.editor, {f"docs/many/doc-{n:02}.md": f"# Doc {n}\n" for n in range(7)} | {"docs/other.md": "# O\n"})
    first = cast.viewer.get("/api/v1/docs", params={"limit": 5}).json()
    assert len(first["items"]) == 5 and first["next_cursor"] == "docs/many/doc-04.md"
    rest = cast.viewer.get("/api/v1/docs", params={"limit": 5, "cursor": first["next_cursor"]}).json()
    assert [d["path"] for d in rest["items"]][:3] == ["docs/many/doc-05.md", "docs/many/doc-06.md", "docs/other.md"]
    assert rest["next_cursor"] is None
    folder = cast.viewer.get("/api/v1/docs", params={"prefix": "docs/many"}).json()
    assert len(folder["items"]) == 7
    assert cast.viewer.get("/api/v1/docs", params={"limit": 501}).status_code == 422
    error_of(cast.viewer.get("/api/v1/docs", params={"prefix": "docs/../etc"}), 422)
    page = cast.viewer.get("/docs", params={"prefix": "docs/many"})
    assert page.status_code == 200 and "Doc 6" in page.text and "docs/other.md" not in page.text


def test_the_index_follows_main_after_every_merge(cast: Cast, ctx: AppContext) -> None:
    land(cast.editor, {"docs/a.md": "# A\n"})
    with ctx.session_factory() as session:
        state = session.get(DocsState, 1)
        assert state is not None and state.synced_commit == main_tip(ctx)
        docs, _ = docs_views.list_docs(session=session, repo_path=ctx.repo_path)
        assert "docs/a.md" in [d.path for d in docs]


# -- view -------------------------------------------------------------------------------------------------------

def test_a_doc_renders_with_toc_last_change_and_edit_button(cast: Cast, ctx: AppContext) -> None:
    item = land(cast.editor, {"docs/services/grafana.md": (
        "---\ntitle: Grafana\nowner: ops\n---\n# Grafana\n\n## Install\n\nSee [backup](../runbooks/backup.md).\n\n"
        "## Upgrade\n\n```yaml\nimage: grafana/grafana:11\n```\n")}, title="Document Grafana")
    response = cast.editor.get("/docs/view/docs/services/grafana.md")
    assert response.status_code == 200
    page = response.text
    assert "<title>Grafana · Calcifer</title>" in page
    assert '<article class="prose" id="doc-body">' in page
    assert '<a href="#doc-install">Install</a>' in page and '<h2 id="doc-install">' in page
    assert 'href="/docs/view/docs/runbooks/backup.md"' in page
    assert '<div class="highlight">' in page
    assert f'href="/work/{item["id"]}">#{item["id"]} Document Grafana</a>' in page
    assert 'href="/docs/edit/docs/services/grafana.md"' in page
    assert 'href="/docs/history/docs/services/grafana.md"' in page
    assert "<dt>owner</dt>" in page
    assert 'href="/docs/edit/' not in cast.viewer.get("/docs/view/docs/services/grafana.md").text

    api = cast.viewer.get("/api/v1/docs/docs/services/grafana.md").json()
    assert api["path"] == "docs/services/grafana.md" and api["title"] == "Grafana"
    assert api["markdown"].startswith("---\ntitle: Grafana")
    assert api["front_matter"] == {"title": "Grafana", "owner": "ops"}
    assert [t["anchor"] for t in api["toc"]] == ["doc-grafana", "doc-install", "doc-upgrade"]
    assert api["last_commit"]["work_item_id"] == item["id"]
    assert api["last_commit"]["commit"]["id"] == item["merge_commit"]
    assert api["links"] == ["docs/runbooks/backup.md"] and api["backlinks"] == []
    assert "<h2" in api["html"]


def test_missing_docs_and_non_docs_get_clear_errors(cast: Cast) -> None:
    assert "no doc docs/nope.md" in error_of(cast.viewer.get("/api/v1/docs/docs/nope.md"), 404)["message"]
    assert cast.viewer.get("/docs/view/docs/nope.md").status_code == 404
    assert "end in .md" in error_of(cast.viewer.get("/api/v1/docs/docs/notes.txt"), 422)["message"]
    assert "under docs/" in error_of(cast.viewer.get("/api/v1/docs/CHANGES.md"), 422)["message"]
    page = cast.viewer.get("/docs/view/catalog/services/x.md")
    assert page.status_code == 422 and "docs live under docs/" in page.text


def test_a_doc_can_be_read_as_of_an_earlier_commit(cast: Cast) -> None:
    first = land(cast.editor, {"docs/a.md": "# Version one\n"}, title="One")
    land(cast.editor, {"docs/a.md": "# Version two\n"}, title="Two")
    old = cast.viewer.get("/docs/view/docs/a.md", params={"rev": first["merge_commit"]})
    assert old.status_code == 200 and "Version one" in old.text and "as of commit" in old.text
    assert "Version two" in cast.viewer.get("/docs/view/docs/a.md").text
    assert "not a commit id" in error_of(cast.viewer.get("/api/v1/docs/docs/a.md", params={"rev": "main"}),
                                         422)["message"]
    error_of(cast.viewer.get("/api/v1/docs/docs/a.md", params={"rev": "0" * 40}), 404)


# -- history and diff -----------------------------------------------------------------------------------------------

def test_history_lists_each_merged_work_item_and_the_diff_between_them(cast: Cast, ctx: AppContext) -> None:
    first = land(cast.editor, {"docs/runbooks/backup.md": "# Backup\n\nRun restic nightly.\n"},
                 title="Write the backup runbook")
    land(cast.editor, {"docs/other.md": "# Unrelated\n"}, title="Something else")
    second = land(cast.admin, {"docs/runbooks/backup.md": "# Backup\n\nRun restic every hour.\n\nCheck it.\n"},
                  title="Back up hourly", entry="Backups run hourly", entry_type="Changed")

    history = cast.viewer.get("/api/v1/docs/docs/runbooks/backup.md/history").json()
    entries = history["items"]
    assert [(e["work_item_id"], e["change"]) for e in entries] == [(second["id"], "modified"), (first["id"], "added")]
    assert [e["commit"]["id"] for e in entries] == [second["merge_commit"], first["merge_commit"]]
    assert entries[0]["work_item_title"] == "Back up hourly"
    assert history["next_cursor"] is None and history["exists"] is True

    page = cast.viewer.get("/docs/history/docs/runbooks/backup.md").text
    assert f'href="/work/{first["id"]}">#{first["id"]} Write the backup runbook</a>' in page
    assert f'href="/work/{second["id"]}">#{second["id"]} Back up hourly</a>' in page
    assert 'action="/docs/diff/docs/runbooks/backup.md"' in page

    diff = cast.viewer.get("/docs/diff/docs/runbooks/backup.md",
                           params={"from": first["merge_commit"], "to": second["merge_commit"]})
    assert diff.status_code == 200
    # Drawn by the shared diff view: numbered lines, the changed words marked.
    assert 'class="diff-table diff-unified"' in diff.text and '<tr class="diff-hunk-row">' in diff.text
    assert '<mark class="diff-word">nightly</mark>' in diff.text
    assert '<mark class="diff-word">every hour</mark>' in diff.text
    split = cast.viewer.get("/docs/diff/docs/runbooks/backup.md",
                            params={"from": first["merge_commit"], "to": second["merge_commit"], "view": "split"})
    assert 'class="diff-table diff-split"' in split.text and "before on the left" in split.text

    api = cast.viewer.get("/api/v1/docs/docs/runbooks/backup.md/diff").json()  # default: previous → main
    assert api["from"]["id"] == first["merge_commit"] and api["to"]["id"] == main_tip(ctx)
    assert api["added"] == 3 and api["removed"] == 1 and "+Check it." in api["diff"]
    same = cast.viewer.get("/api/v1/docs/docs/runbooks/backup.md/diff",
                           params={"from": second["merge_commit"], "to": main_tip(ctx)}).json()
    assert same["identical"] is True


def test_history_pages_and_keeps_deleted_docs(cast: Cast, ctx: AppContext) -> None:
    items = [land(cast.editor, {"docs/log.md": f"# Log\n\nentry {n}\n"}, title=f"Edit {n}") for n in range(3)]
    page1 = cast.viewer.get("/api/v1/docs/docs/log.md/history", params={"limit": 2}).json()
    assert [e["work_item_id"] for e in page1["items"]] == [items[2]["id"], items[1]["id"]]
    page2 = cast.viewer.get("/api/v1/docs/docs/log.md/history",
                            params={"limit": 2, "before": page1["next_cursor"]}).json()
    assert [e["work_item_id"] for e in page2["items"]] == [items[0]["id"]]

    item = make_work_item(cast.editor, title="Drop the log")
    assert cast.editor.delete(f"/api/v1/work-items/{item['id']}/files/docs/log.md").status_code == 204
    assert cast.editor.post(f"/api/v1/work-items/{item['id']}/commits", json={
        "message": "Remove log", "changelog": {"type": "Removed", "text": "The log doc"}}).status_code == 201
    finish_documentation(cast.editor, item)
    assert cast.editor.post(f"/api/v1/work-items/{item['id']}/merge").status_code == 200
    gone = cast.viewer.get("/api/v1/docs/docs/log.md/history").json()
    assert gone["exists"] is False and gone["items"][0]["change"] == "deleted"
    assert "no longer exists" in cast.viewer.get("/docs/history/docs/log.md").text
    error_of(cast.viewer.get("/api/v1/docs/docs/never.md/history"), 404)


def test_commit_messages_name_their_work_item_three_ways() -> None:
    assert docs_history.work_item_from_message("Merge work item #4: x\n\nBranch: b\n\nWork-Item: 4\n") == 4
    assert docs_history.work_item_from_message("Fix typo ([#12](/work/12))\n") == 12
    assert docs_history.work_item_from_message("Fix typo (#7)\n\nbody (#9) here") == 7
    assert docs_history.work_item_from_message("Plain message #3\n") is None


def test_history_route_is_not_swallowed_by_the_doc_route(cast: Cast) -> None:
    land(cast.editor, {"docs/history.md": "# A doc called history\n", "docs/history/diff.md": "# Nested\n"})
    assert cast.viewer.get("/api/v1/docs/docs/history.md").json()["title"] == "A doc called history"
    assert cast.viewer.get("/api/v1/docs/docs/history/diff.md").json()["title"] == "Nested"
    history = cast.viewer.get("/api/v1/docs/docs/history.md/history").json()
    assert "items" in history and "markdown" not in history
    created = cast.viewer.get("/api/v1/docs/docs/history/diff.md/diff").json()  # a new doc: all added
    assert created["path"] == "docs/history/diff.md" and "+# Nested" in created["diff"] and created["removed"] == 0


# -- backlinks ------------------------------------------------------------------------------------------------------

def test_backlinks_list_the_docs_and_services_that_link_to_a_doc(cast: Cast) -> None:
    land(cast.editor, {
        "docs/runbooks/backup.md": "# Backup runbook\n",
        "docs/services/loki.md": "# Loki\n\nBack up with [the runbook](../runbooks/backup.md#steps).\n",
        "docs/index.md": "# Index\n\n- [backup](/docs/view/docs/runbooks/backup.md)\n- [grafana](service:grafana)\n",
        "docs/_templates/runbook.md": "# T\n\n[backup](../runbooks/backup.md)\n",  # templates are not sources
        "catalog/services/grafana.yaml": GRAFANA_SERVICE,
    })
    view = cast.viewer.get("/api/v1/docs/docs/runbooks/backup.md").json()
    assert [(b["kind"], b["key"], b["title"]) for b in view["backlinks"]] == [
        ("doc", "docs/index.md", "Index"), ("doc", "docs/services/loki.md", "Loki"),
        ("service", "grafana", "Grafana")]
    page = cast.viewer.get("/docs/view/docs/runbooks/backup.md").text
    backlinks = page.split('id="backlinks"')[1].split("</section>")[0]
    assert 'href="/docs/view/docs/services/loki.md">Loki</a>' in backlinks
    assert 'href="/services/grafana">Grafana</a>' in backlinks


def test_backlinks_follow_later_merges(cast: Cast, ctx: AppContext) -> None:
    land(cast.editor, {"docs/b.md": "# B\n", "docs/a.md": "# A\n\n[b](b.md)\n"})
    assert [b["key"] for b in cast.viewer.get("/api/v1/docs/docs/b.md").json()["backlinks"]] == ["docs/a.md"]
    land(cast.editor, {"docs/a.md": "# A\n\nNo link any more.\n", "docs/c.md": "# C\n\n[b](./b.md)\n"})
    assert [b["key"] for b in cast.viewer.get("/api/v1/docs/docs/b.md").json()["backlinks"]] == ["docs/c.md"]
    with ctx.session_factory() as session:
        docs = docs_views.docs_linking_to_service(session=session, repo_path=ctx.repo_path, slug="grafana")
        assert docs == []


# -- raw images -----------------------------------------------------------------------------------------------------

def test_images_under_docs_are_served_with_their_type_and_a_strict_csp(cast: Cast, ctx: AppContext) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    commit_on_main(ctx.repo_path, {"docs/img/net.png": (FileMode.BLOB, PNG), "docs/img/net.svg": (FileMode.BLOB, svg),
                                   "docs/img/notes.txt": (FileMode.BLOB, b"text")})
    png = cast.viewer.get("/docs/raw/docs/img/net.png")
    assert png.status_code == 200 and png.content == PNG
    assert png.headers["content-type"] == "image/png"
    assert png.headers["content-security-policy"].startswith("default-src 'none'")
    assert png.headers["x-content-type-options"] == "nosniff"
    assert cast.viewer.get("/docs/raw/docs/img/net.png", headers={"If-None-Match": png.headers["etag"]}
                           ).status_code == 304
    image = cast.viewer.get("/docs/raw/docs/img/net.svg")
    assert image.status_code == 200 and image.headers["content-type"] == "image/svg+xml"
    assert image.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in image.headers["content-security-policy"]
    assert cast.viewer.get("/docs/raw/docs/img/notes.txt").status_code == 422
    assert cast.viewer.get("/docs/raw/docs/img/missing.png").status_code == 404
    assert cast.viewer.get("/docs/raw/catalog/x.png").status_code == 422
    assert cast.outsider.get("/docs/raw/docs/img/net.png").status_code in (303, 401)


# -- hostile paths --------------------------------------------------------------------------------------------------

HOSTILE_PATHS = [
    ("docs/%2e%2e/%2e%2e/etc/passwd.md", "'..'"),
    ("docs/..%2F..%2Fetc%2Fpasswd.md", "'..'"),
    ("%2Fetc%2Fpasswd.md", "relative to the repository root"),
    ("docs/a%00.md", "NUL"),
    ("docs%5Cwindows.md", "backslash"),
    ("docs/" + "a" * 300 + ".md", "longer than 255"),
    ("docs//double.md", "empty folder name"),
    ("docs/.git/config.md", ".git"),
    ("etc/passwd.md", "under docs/"),
    ("docs/a%01b.md", "control characters"),
    ("docs/a%7Fb.md", "control characters"),
]


@pytest.mark.parametrize(("path", "reason"), HOSTILE_PATHS)
def test_hostile_paths_are_refused_with_a_clear_reason(cast: Cast, path: str, reason: str) -> None:
    for url in (f"/api/v1/docs/{path}", f"/api/v1/docs/{path}/history", f"/api/v1/docs/{path}/diff"):
        error = error_of(cast.viewer.get(url), 422)
        assert reason in error["message"], (url, error)
    for url in (f"/docs/view/{path}", f"/docs/history/{path}", f"/docs/diff/{path}"):
        page = cast.viewer.get(url)
        assert page.status_code == 422, (url, page.status_code)
    raw = cast.viewer.get(f"/docs/raw/{path.removesuffix('.md')}.png")
    assert raw.status_code == 422


def test_symlinks_inside_docs_are_never_rendered_or_served(cast: Cast, ctx: AppContext) -> None:
    commit_on_main(ctx.repo_path, {
        "docs/passwd.md": (FileMode.LINK, b"../../../../../../etc/passwd"),
        "docs/key.png": (FileMode.LINK, b"/etc/ssh/ssh_host_rsa_key"),
        "docs/real.md": (FileMode.BLOB, b"# Real\n"),
    })
    assert "symbolic link" in error_of(cast.viewer.get("/api/v1/docs/docs/passwd.md"), 422)["message"]
    page = cast.viewer.get("/docs/view/docs/passwd.md")
    assert page.status_code == 422 and "root:" not in page.text
    raw = cast.viewer.get("/docs/raw/docs/key.png")
    assert raw.status_code == 422 and b"PRIVATE" not in raw.content
    listed = [d["path"] for d in cast.viewer.get("/api/v1/docs").json()["items"]]
    assert listed == ["docs/real.md"]


def test_big_and_binary_docs_are_refused(cast: Cast, ctx: AppContext) -> None:
    commit_on_main(ctx.repo_path, {"docs/big.md": (FileMode.BLOB, b"x" * (1024 * 1024 + 1)),
                                   "docs/latin1.md": (FileMode.BLOB, "caf\xe9".encode("latin-1"))})
    assert "1 MiB" in error_of(cast.viewer.get("/api/v1/docs/docs/big.md"), 422)["message"]
    assert "UTF-8" in error_of(cast.viewer.get("/api/v1/docs/docs/latin1.md"), 422)["message"]


def test_reading_needs_a_login(cast: Cast) -> None:
    for url in ("/api/v1/docs", "/api/v1/docs/docs/a.md", "/api/v1/docs/docs/a.md/history",
                "/api/v1/changelog/entries"):
        assert cast.outsider.get(url).status_code == 401
    assert cast.outsider.get("/docs/view/docs/a.md").status_code == 303


# -- changelog --------------------------------------------------------------------------------------------------------

OLD_CHANGES = """# Changelog

## 2024-03-05

### Fixed

- Loki retention fixed for service loki

## 2024-01-10

### Added

- Grafana dashboards imported
- A change with no work item
"""


def test_changelog_filters_by_date_type_and_service(cast: Cast, ctx: AppContext) -> None:
    land(cast.editor, {"CHANGES.md": OLD_CHANGES}, title="Import old changelog", entry="Imported the old changelog",
         entry_type="Changed")
    graf = land(cast.editor, {"docs/grafana.md": "# G\n"}, title="Grafana docs", entry="Grafana runbook",
                service="grafana")
    today = dt.datetime.now(dt.UTC).date().isoformat()

    def texts(**params: str) -> list[str]:
        response = cast.viewer.get("/api/v1/changelog/entries", params=params)
        assert response.status_code == 200, response.text
        return [e["text"] for e in response.json()["items"]]

    assert texts() == ["Grafana runbook", "Imported the old changelog", "Loki retention fixed for service loki",
                       "Grafana dashboards imported", "A change with no work item"]
    assert texts(**{"from": "2024-01-01", "to": "2024-02-01"}) == ["Grafana dashboards imported",
                                                                    "A change with no work item"]
    assert texts(**{"from": "2024-03-01"})[-1] == "Loki retention fixed for service loki"
    assert texts(**{"from": today, "to": today}) == ["Grafana runbook", "Imported the old changelog"]
    assert texts(type="Fixed") == ["Loki retention fixed for service loki"]
    assert texts(type="changed") == ["Imported the old changelog"]
    assert texts(service="grafana") == ["Grafana runbook"]
    assert texts(service="loki") == ["Loki retention fixed for service loki"]
    assert texts(q="DASHBOARDS") == ["Grafana dashboards imported"]

    entry = cast.viewer.get("/api/v1/changelog/entries", params={"service": "grafana"}).json()["items"][0]
    assert entry["work_item_id"] == graf["id"] and entry["commit"] == graf["merge_commit"]
    assert entry["service"] == "grafana" and entry["date"] == today and entry["type"] == "Added"

    assert error_of(cast.viewer.get("/api/v1/changelog/entries", params={"from": "yesterday"}), 422)
    assert error_of(cast.viewer.get("/api/v1/changelog/entries", params={"type": "Improved"}), 422)
    assert error_of(cast.viewer.get("/api/v1/changelog/entries", params={"from": "2024-02-01", "to": "2024-01-01"}),
                    422)
    # The older endpoint keeps working.
    assert len(cast.viewer.get("/api/v1/changelog").json()["items"]) == 5

    page = cast.viewer.get("/changelog", params={"service": "grafana"})
    assert page.status_code == 200
    listed = page.text.split('id="changelog-entries"')[1]
    assert "Grafana runbook" in listed and "Loki" not in listed
    assert f'href="/work/{graf["id"]}">#{graf["id"]} Grafana docs</a>' in listed and graf["merge_commit"][:10] in listed
    bad = cast.viewer.get("/changelog", params={"from": "31/01/2024"})
    assert bad.status_code == 422 and "must be a date" in bad.text and 'value="31/01/2024"' in bad.text


def test_changelog_pages(cast: Cast) -> None:
    land(cast.editor, {"CHANGES.md": "# Changelog\n\n## 2024-01-01\n\n### Added\n\n"
                       + "".join(f"- Entry {n}\n" for n in range(7))})
    for path in ("/api/v1/changelog/entries", "/api/v1/changelog"):
        whole = cast.viewer.get(path, params={"limit": 500}).json()["items"]
        pages = walk_pages(cast.viewer, path, limit=5)
        assert [len(page) for page in pages] == [5, 3]
        assert [e["text"] for page in pages for e in page] == [e["text"] for e in whole]
        assert_bad_cursor_refused(cast.viewer, path)
    # A bare offset, what the entries gave out before their cursors were opaque, is still read.
    rest = cast.viewer.get("/api/v1/changelog/entries", params={"limit": 5, "cursor": "5"}).json()
    assert len(rest["items"]) == 3 and rest["next_cursor"] is None


def test_an_entry_merged_between_two_changelog_pages_repeats_nothing(cast: Cast) -> None:
    land(cast.editor, {"CHANGES.md": "# Changelog\n\n## 2024-01-01\n\n### Added\n\n"
                       + "".join(f"- Entry {n}\n" for n in range(7))})
    for path in ("/api/v1/changelog/entries", "/api/v1/changelog"):
        first = cast.viewer.get(path, params={"limit": 4}).json()
        land(cast.editor, {f"docs/{path.rsplit('/', 1)[-1]}.md": "# New\n"}, title="Another doc",
             entry=f"A newer entry for {path}")
        rest = cast.viewer.get(path, params={"limit": 500, "cursor": first["next_cursor"]}).json()
        texts = [e["text"] for e in first["items"] + rest["items"]]
        assert len(texts) == len(set(texts)) and not any("newer entry" in e["text"] for e in rest["items"]), texts
        assert [t for t in texts if t.startswith("Entry ")] == [f"Entry {n}" for n in range(7)]


def test_dashboard_links_the_changelog(cast: Cast) -> None:
    page = cast.viewer.get("/").text
    latest = page.split("<h2>Latest changes</h2>")[1][:200]
    assert re.search(r'<a href="/changelog">', latest)


def test_the_changelog_page_shows_older_entries_through_its_next_link(cast: Cast) -> None:
    land(cast.editor, {"CHANGES.md": "# Changelog\n\n## 2024-01-01\n\n### Added\n\n"
                       + "".join(f"- Entry number {n}\n" for n in range(104))})
    first = cast.viewer.get("/changelog").text
    assert first.count('<li data-work-item="') == 100
    link = re.search(r'<a class="next" href="([^"]+)" rel="next">', first)
    assert link is not None
    second = cast.viewer.get(html.unescape(link.group(1))).text
    shown = re.findall(r"Entry number (\d+)", first + second)
    assert sorted(map(int, shown)) == list(range(104)) and len(shown) == 104
    assert 'rel="next"' not in second

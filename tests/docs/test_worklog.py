"""The work log: merging a work item writes docs/work-log/<year>/<id>-<slug>.md into the merge commit itself."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from calcifer.docs import worklog
from calcifer.errors import Conflict, Problem
from calcifer.web.context import AppContext
from calcifer.work import service as work_service
from tests.catalog.helpers import error_of, merge
from tests.conftest import Cast
from tests.work.helpers import finish_documentation, git, make_work_item, write_and_commit

NOTES = "Installed Grafana 11 with compose.\nRoll back: revert the merge | stop the container."


def ready(client: Any, title: str = "Add Grafana | dashboards") -> dict[str, Any]:
    item = make_work_item(client, title=title, category="service", action="new", service="grafana",
                          description="Dashboards for the homelab.")
    write_and_commit(client, item, "docs/grafana.md", "# Grafana\n", entry="Grafana dashboards",
                     message="Write the Grafana doc")
    write_and_commit(client, item, "docs/grafana.md", "# Grafana\n\nMore.\n", entry="Grafana alert rules",
                     entry_type="Changed", message="Extend the Grafana doc")
    finish_documentation(client, item, notes=NOTES)
    return item


def test_merging_adds_the_work_log_entry_in_the_merge_commit_itself(cast: Cast, ctx: AppContext) -> None:
    repo = ctx.repo_path
    item = ready(cast.editor)
    merged = merge(cast.editor, item)
    commit = merged["merge_commit"]
    year = dt.datetime.now(dt.UTC).year
    path = f"docs/work-log/{year}/{item['id']}-add-grafana-dashboards.md"
    assert path in git(repo, "show", "--stat=300", "--format=", commit)
    assert path in git(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", f"{commit}^1", commit).split()
    # Not on the branch: only the merge commit adds it.
    assert path not in git(repo, "ls-tree", "-r", "--name-only", f"{commit}^2").split()
    assert git(repo, "rev-parse", "main").strip() == commit

    text = git(repo, "show", f"main:{path}")
    assert text.startswith(f"# Work item #{item['id']}: Add Grafana | dashboards\n")
    assert "| Type | service / new |" in text
    assert f"| Branch | `{item['branch']}` |" in text
    assert "| Service | [grafana](/services/grafana) |" in text
    assert "| Opened by | eddie, " in text and "| Completed by | eddie, " in text
    assert "## Description\n\nDashboards for the homelab.\n" in text
    assert "## Notes\n\n" + NOTES + "\n" in text
    assert "- Added: Grafana dashboards\n" in text and "- Changed: Grafana alert rules\n" in text
    for full in git(repo, "log", "--format=%H", f"{commit}^1..{commit}^2").split():
        assert f"`{full[:7]}`" in text
    assert "Write the Grafana doc" in text and "Extend the Grafana doc" in text
    assert "- [x] " in text and "- [ ] " not in text


def test_every_merge_gets_its_own_entry_and_they_never_conflict(cast: Cast, ctx: AppContext) -> None:
    first, second = ready(cast.editor, "First"), ready(cast.editor, "Second")
    merge(cast.editor, first)
    merge(cast.editor, second)
    logs = [p for p in git(ctx.repo_path, "ls-tree", "-r", "--name-only", "main").split()
            if p.startswith("docs/work-log/")]
    assert [p.rsplit("/", 1)[1] for p in logs] == [f"{first['id']}-first.md", f"{second['id']}-second.md"]


def test_a_refused_merge_writes_no_work_log(cast: Cast, ctx: AppContext) -> None:
    item = make_work_item(cast.editor)
    head = git(ctx.repo_path, "rev-parse", "main").strip()
    error_of(cast.editor.post(f"/api/v1/work-items/{item['id']}/merge"), 409)
    assert git(ctx.repo_path, "rev-parse", "main").strip() == head


def test_a_failing_extra_files_hook_refuses_the_merge_and_changes_nothing(
        cast: Cast, ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    item = ready(cast.editor)
    head = git(ctx.repo_path, "rev-parse", "main").strip()

    def broken(**_: Any) -> dict[str, bytes]:
        raise Conflict("The work log cannot be written.", code="work_log_failed",
                       problems=[Problem("work_log_failed", "no")])

    monkeypatch.setattr(work_service, "MERGE_EXTRA_FILES", [*work_service.MERGE_EXTRA_FILES, broken])
    assert error_of(cast.editor.post(f"/api/v1/work-items/{item['id']}/merge"), 409)["code"] == "work_log_failed"
    assert git(ctx.repo_path, "rev-parse", "main").strip() == head
    assert cast.editor.get(f"/api/v1/work-items/{item['id']}").json()["status"] == "in_progress"
    monkeypatch.setattr(work_service, "MERGE_EXTRA_FILES", [worklog.work_log_files])
    assert merge(cast.editor, item)["status"] == "complete"  # the claim was released


def test_the_entry_escapes_table_cells_and_says_none_when_empty(cast: Cast, ctx: AppContext) -> None:
    item = make_work_item(cast.editor, title="A | B")
    with ctx.session_factory() as session:
        row = work_service.get_work_item(session=session, item_id=item["id"])
        text = worklog.render_entry(item=row, actor=row.author, when=dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC),
                                    commits=[], entries=[])
        assert worklog.work_log_path(row, dt.datetime(2024, 5, 1, tzinfo=dt.UTC)) == \
            f"docs/work-log/2024/{item['id']}-a-b.md"
    assert text.startswith(f"# Work item #{item['id']}: A | B\n")
    assert "| Completed by | eddie, 2024-05-01 12:00 UTC |" in text
    assert "## Notes\n\n_None._" in text and "## Commits\n\n_None._" in text

"""The work log: completing a work item writes `docs/work-log/<year>/<id>-<slug>.md` into the merge
commit itself — what was done (title, type, notes, checklist), the commits and CHANGES.md entries of
its branch, who did it and when. Registered with `work` as a merge extra-files hook.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from calcifer import gitrepo as git
from calcifer.auth.models import User
from calcifer.changelog import service as changelog
from calcifer.work import service as work
from calcifer.work.models import WorkItem

WORK_LOG_DIR = "docs/work-log"
MAX_COMMITS = 200


def work_log_path(item: WorkItem, when: dt.datetime) -> str:
    return f"{WORK_LOG_DIR}/{when.year:04d}/{item.id}-{item.slug}.md"


def _cell(text: Any) -> str:
    value = " ".join(str(text).split())
    return value.replace("|", "\\|") if value else "—"


def _person(user: User | None) -> str:
    if user is None:
        return "—"
    name = user.display_name or user.username
    return _cell(name if name == user.username else f"{name} ({user.username})")


def _when(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _block(text: str) -> str:
    text = text.replace("\r\n", "\n").strip()
    return text if text else "_None._"


def render_entry(*, item: WorkItem, actor: User, when: dt.datetime, commits: list[git.CommitInfo],
                 entries: list[changelog.Entry]) -> str:
    """The work-log entry as markdown."""
    lines = [
        f"# Work item #{item.id}: {item.title}",
        "",
        "| | |",
        "|---|---|",
        f"| Type | {_cell(item.category)} / {_cell(item.action)} |",
        f"| Work item | [#{item.id}](/work/{item.id}) |",
        f"| Branch | `{item.branch}` |",
    ]
    if item.service:
        lines.append(f"| Service | [{_cell(item.service)}](/services/{item.service}) |")
    lines += [
        f"| Opened by | {_person(item.author)}, {_when(item.created_at)} |",
        f"| Assignee | {_person(item.assignee)} |",
        f"| Completed by | {_person(actor)}, {_when(when)} |",
        "",
    ]
    if item.description.strip():
        lines += ["## Description", "", _block(item.description), ""]
    lines += ["## Notes", "", _block(item.notes), ""]
    lines += ["## Changelog entries", ""]
    if entries:
        for entry in entries:
            kind = entry.type.value if entry.type else (entry.heading or "Entry")
            text = " ".join(entry.text.split())
            lines.append(f"- {kind}: {text}")
    else:
        lines.append("_None._")
    lines += ["", "## Checklist", ""]
    if item.checklist:
        lines += [f"- [{'x' if c.done else ' '}] {' '.join(c.text.split())}" for c in item.checklist]
    else:
        lines.append("_None._")
    lines += ["", "## Commits", ""]
    if commits:
        for commit in commits:
            lines.append(f"- `{commit.short_id}` {' '.join(commit.summary.split())} — {_cell(commit.author_name)}, "
                         f"{_when(commit.time)}")
    else:
        lines.append("_None._")
    return "\n".join(lines) + "\n"


def work_log_files(*, session: Session, item: WorkItem, workspace: work.Workspace, actor: User) -> dict[str, bytes]:
    """The work-log entry of `item`, to be written into its merge commit."""
    when = dt.datetime.now(dt.UTC)
    commits = git.commits_ahead(repo_path=workspace.repo_path, branch=item.branch, limit=MAX_COMMITS)
    entries = work.branch_changelog_entries(workspace=workspace, item=item)
    text = render_entry(item=item, actor=actor, when=when, commits=commits, entries=entries)
    return {work_log_path(item, when): text.encode()}

"""Work items: lifecycle, checklists, notes, files, commits, merge-and-complete, reconciliation.

Git work is done through `calcifer.gitrepo`; the order of git and database steps is chosen so that a
failure at any point leaves both consistent, or in a state `reconcile` repairs at the next start.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from calcifer import gitrepo as git
from calcifer.audit import service as audit_service
from calcifer.auth import service as auth_service
from calcifer.auth.models import User
from calcifer.changelog import service as changelog
from calcifer.changelog.choices import ChangeType
from calcifer.db import utcnow
from calcifer.errors import Conflict, DomainError, Invalid, NotFound, Problem
from calcifer.events import MainMoved
from calcifer.gitrepo import MAIN, GitError, bare_repo, blob_hash, changed_blob_ids, resolve_commit
from calcifer.prefs import service as prefs
from calcifer.prefs.choices import Pref
from calcifer.work import checklists
from calcifer.work.choices import OPEN_STATUSES, STANDARD_CATEGORY, MergeProblem, WorkItemChange, WorkStatus
from calcifer.work.models import ChecklistItem, RepairReport, WorkItem
from calcifer.work.schemas import NOTES_MAX, WorkItemCreate, WorkItemUpdate

log = logging.getLogger("calcifer.work")

CHANGELOG_PATH = "CHANGES.md"
MERGE_CLAIM_TIMEOUT = dt.timedelta(minutes=10)


# Extension points of work items. Each list is filled, in order, by ``calcifer.wiring`` (empty until it
# runs); the Protocols name the keyword arguments every entry receives.


class AfterMergeStep(Protocol):
    """A step of the after-merge pipeline (catalog sync, docs index, search index...), run in the listed
    order after main moved. Receives what changed; returns it, with what the step learned filled in, for
    the next step (None: unchanged). A failing step is logged and never undoes the merge."""

    def __call__(self, *, session: Session, repo_path: Path, change: MainMoved) -> MainMoved | None: ...


class WorkItemChangedHook(Protocol):
    """Called after a work item was created, edited, committed to, merged or cancelled (search keeps its
    index current from here). Failures are logged, never raised."""

    def __call__(self, *, session: Session, item: WorkItem) -> None: ...


class WorkItemEventHook(Protocol):
    """Called inside the transaction of a work item's change (``change``: created, updated, merged,
    cancelled), just before it commits, so what it adds commits or rolls back with the change (the
    domain-event outbox). Adds rows only: no commit, no network; an error fails the change."""

    def __call__(self, *, session: Session, item: WorkItem, change: WorkItemChange) -> None: ...


class MergeRule(Protocol):
    """An extra merge rule: returns its unmet rules as Problems, listed with the built-in ones."""

    def __call__(self, *, session: Session, item: WorkItem, workspace: Workspace) -> list[Problem]: ...


class MergeExtraFiles(Protocol):
    """Files written into the merge commit itself (path -> bytes), asked just before merge-and-complete
    merges (docs writes the work-log entry). An error raised here refuses the merge before git changes."""

    def __call__(self, *, session: Session, item: WorkItem, workspace: Workspace, actor: User) -> dict[str, bytes]: ...


class ResolutionRule(Protocol):
    """Validation the merge commit that resolves an update from main must pass before it goes on the branch
    (the merge check's, by commit: main is always valid): the problems of moving from ``base`` (main's
    commit that was merged in) to ``tip`` (the resolution)."""

    def __call__(self, *, session: Session, repo_path: Path, base: str, tip: str) -> list[Problem]: ...


class InitialFiles(Protocol):
    """Extra files for a NEW managed repository's initial commit (docs adds its default templates)."""

    def __call__(self) -> dict[str, bytes]: ...


AFTER_MERGE_STEPS: list[AfterMergeStep] = []
WORK_ITEM_CHANGED_HOOKS: list[WorkItemChangedHook] = []
WORK_ITEM_EVENT_HOOKS: list[WorkItemEventHook] = []
MERGE_RULES: list[MergeRule] = []
MERGE_EXTRA_FILES: list[MergeExtraFiles] = []
INITIAL_FILE_PROVIDERS: list[InitialFiles] = []
RESOLUTION_RULES: list[ResolutionRule] = []


def notify_work_item_changed(*, session: Session, item: WorkItem) -> None:
    for hook in list(WORK_ITEM_CHANGED_HOOKS):
        try:
            hook(session=session, item=item)
        except Exception:  # noqa: BLE001 - an index update must not fail the user's change
            session.rollback()
            log.exception("work-item hook %s failed", getattr(hook, "__name__", hook))


def _record_event(session: Session, item: WorkItem, change: WorkItemChange) -> None:
    session.flush()
    for hook in list(WORK_ITEM_EVENT_HOOKS):
        hook(session=session, item=item, change=change)


def main_moved(*, repo_path: Path, before: str | None) -> MainMoved:
    """What differs between commit ``before`` and main now: every changed path with its new blob id
    (None: deleted). ``paths`` is None when ``before`` is None or no longer readable."""
    repo = bare_repo(repo_path)
    after = resolve_commit(repo, MAIN)
    if before is None:
        return MainMoved(before=None, after=str(after.id), paths=None)
    try:
        old = resolve_commit(repo, before)
    except NotFound:
        return MainMoved(before=before, after=str(after.id), paths=None)
    paths = changed_blob_ids(repo, old, after)
    return MainMoved(before=before, after=str(after.id), paths=paths)


def notify_main_changed(*, session: Session, repo_path: Path, before: str | None = None) -> None:
    """Run the after-merge steps in their listed order, each receiving what changed since ``before``
    (main's commit before the merge; None when unknown, e.g. at start: steps then compare everything)."""
    try:
        change = main_moved(repo_path=repo_path, before=before)
    except (NotFound, GitError):
        log.exception("after-merge steps skipped: main could not be read")
        return
    for step in list(AFTER_MERGE_STEPS):
        try:
            change = step(session=session, repo_path=repo_path, change=change) or change
        except Exception:  # noqa: BLE001 - a re-index failure must not fail the merge that happened
            session.rollback()
            log.exception("after-merge step %s failed", getattr(step, "__name__", step))


@dataclass(frozen=True)
class Workspace:
    """Where git lives: the bare managed repository and the folder holding work-item worktrees."""

    repo_path: Path
    worktrees_dir: Path


def file_mergers() -> dict[str, git.FileMerger]:
    # CHANGES.md is merged by entries, so two work items adding entries never conflict.
    return {CHANGELOG_PATH: changelog.merge_bytes}


def ensure_repository(*, repo_path: Path) -> bool:
    """Create the managed repository on first run; an existing one is used as it is."""
    files = dict(git.INITIAL_FILES)
    files[CHANGELOG_PATH] = changelog.INITIAL_CHANGELOG.encode()
    for provider in INITIAL_FILE_PROVIDERS:
        files.update(provider())
    return git.init_repository(path=repo_path, initial_files=files)


def author_for(user: User) -> git.Author:
    return git.Author(name=user.display_name or user.username,
                      email=user.email or f"{user.username}@calcifer.invalid")


def slugify(title: str, *, max_length: int = 40) -> str:
    """A branch-safe slug: ASCII letters, digits and single dashes; never empty, never an option."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    slug = slug[:max_length].rstrip("-")
    return slug or "item"


# -- queries -------------------------------------------------------------------------------------------

def get_work_item(*, session: Session, item_id: int) -> WorkItem:
    item = session.get(WorkItem, item_id)
    if item is None:
        raise NotFound(f"No work item #{item_id}.")
    return item


@dataclass(frozen=True)
class WorkFilter:
    status: str | None = None
    category: str | None = None
    assignee: str | None = None
    service: str | None = None
    text: str | None = None


def _filtered(query: Select[Any], filters: WorkFilter) -> Select[Any]:
    if filters.status == "open":
        query = query.where(WorkItem.status.in_(OPEN_STATUSES))
    elif filters.status:
        query = query.where(WorkItem.status == filters.status)
    if filters.category:
        query = query.where(WorkItem.category == filters.category)
    if filters.service:
        query = query.where(WorkItem.service == filters.service)
    if filters.assignee:
        query = query.join(User, WorkItem.assignee_id == User.id).where(User.username == filters.assignee)
    if filters.text:
        like = f"%{filters.text.strip()[:100]}%"
        query = query.where(or_(WorkItem.title.ilike(like), WorkItem.description.ilike(like),
                                WorkItem.branch.ilike(like)))
    return query


def list_work_items(
    *, session: Session, filters: WorkFilter, limit: int = 50, before_id: int | None = None
) -> list[WorkItem]:
    """Newest first, keyset-paginated by id."""
    query = _filtered(select(WorkItem), filters).order_by(WorkItem.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(WorkItem.id < before_id)
    return list(session.scalars(query).unique())


def open_work_items(*, session: Session, limit: int = 100) -> list[WorkItem]:
    """Open work items, newest first: the choices of every "where does this change go" form."""
    return list_work_items(session=session, filters=WorkFilter(status="open"), limit=limit)


def get_work_items(*, session: Session, ids: set[int] | list[int]) -> dict[int, WorkItem]:
    """Work items by id (unknown ids are left out), for pages that link many of them."""
    if not ids:
        return {}
    return {item.id: item for item in session.scalars(select(WorkItem).where(WorkItem.id.in_(list(ids)))).unique()}


def work_near(*, session: Session, services: list[str] | set[str], merged_since: dt.datetime,
              limit: int = 20) -> list[WorkItem]:
    """Work items linked to one of `services` that are in progress, or were completed (merged) at or
    after `merged_since`: what an incident on those services may be related to. Newest first."""
    if not services:
        return []
    query = (select(WorkItem).where(WorkItem.service.in_(sorted(services)), or_(
        WorkItem.status == WorkStatus.IN_PROGRESS.value,
        (WorkItem.status == WorkStatus.COMPLETE.value) & (WorkItem.completed_at >= merged_since)))
        .order_by(WorkItem.id.desc()).limit(limit))
    return list(session.scalars(query).unique())


def recent(*, session: Session, statuses: tuple[str, ...], limit: int) -> list[WorkItem]:
    order = WorkItem.completed_at.desc() if WorkStatus.COMPLETE.value in statuses else WorkItem.updated_at.desc()
    query = select(WorkItem).where(WorkItem.status.in_(statuses)).order_by(order).limit(limit)
    return list(session.scalars(query).unique())


def snapshot(item: WorkItem) -> dict[str, object]:
    """What the audit log keeps of a work item."""
    return {"title": item.title, "category": item.category, "action": item.action,
            "description": item.description, "service": item.service, "status": item.status,
            "notes": item.notes, "branch": item.branch,
            "assignee": item.assignee.username if item.assignee else None,
            "merge_commit": item.merge_commit}


def _resolve_assignee(session: Session, username: str | None) -> User | None:
    if not username:
        return None
    try:
        return auth_service.get_user_by_username(session=session, username=username)
    except NotFound as exc:
        raise Invalid(f"No user named {username!r} to assign.", details=[
            {"field": "assignee", "message": "unknown user"}]) from exc


def _require_open(item: WorkItem) -> None:
    if item.status not in OPEN_STATUSES:
        raise Conflict(f"Work item #{item.id} is {item.status}; only open work items change.",
                       code="not_open")


def _touch(item: WorkItem) -> None:
    item.updated_at = utcnow()
    if item.status == WorkStatus.PLANNING.value:
        item.status = WorkStatus.IN_PROGRESS.value


# -- create / update ----------------------------------------------------------------------------------

def create_work_item(
    *, session: Session, actor: User, data: WorkItemCreate, workspace: Workspace, categories: list[str]
) -> WorkItem:
    """Create the work item, its branch from main and its worktree. Nothing is left behind on failure."""
    if data.category not in categories:
        raise Invalid(f"Unknown category {data.category!r}; choose one of {', '.join(categories)}.",
                      details=[{"field": "category", "message": "unknown category"}])
    assignee = _resolve_assignee(session, data.assignee)
    item = WorkItem(title=data.title, slug=slugify(data.title), category=data.category,
                    action=data.action.value, description=data.description, service=data.service,
                    status=WorkStatus.PLANNING.value, author_id=actor.id,
                    assignee_id=assignee.id if assignee else None)
    session.add(item)
    session.flush()  # assigns the id the branch name needs
    item.branch = f"{item.category}/{item.action}/{item.id}-{item.slug}"
    worktree = git.confine_worktree(worktrees_dir=workspace.worktrees_dir, path=f"{item.id}-{item.slug}")
    item.worktree_path = str(worktree)
    for position, text in enumerate(checklists.template_items(session=session, category=item.category,
                                                              action=item.action)):
        session.add(ChecklistItem(work_item_id=item.id, position=position, text=text, done=False))
    try:
        item.base_commit = git.create_work_branch(repo_path=workspace.repo_path, branch=item.branch,
                                                  worktree_path=worktree, worktree_name=item.worktree_name)
    except Exception:
        session.rollback()
        raise
    audit_service.record(session=session, actor=actor, action="work_item.create", object_type="work_item",
                         object_id=item.id, summary=f"created #{item.id} {item.title}",
                         after=snapshot(item))
    try:
        _record_event(session, item, WorkItemChange.CREATED)
        session.commit()
    except Exception:
        session.rollback()
        git.remove_work_branch(repo_path=workspace.repo_path, branch=item.branch,
                               worktree_name=item.worktree_name, worktree_path=worktree)
        raise
    session.refresh(item)
    notify_work_item_changed(session=session, item=item)
    return item


def update_work_item(*, session: Session, actor: User, item_id: int, data: WorkItemUpdate) -> WorkItem:
    item = get_work_item(session=session, item_id=item_id)
    _require_open(item)
    before = snapshot(item)
    fields = data.model_fields_set
    if "title" in fields and data.title is not None:
        item.title = data.title  # the branch keeps its name: renaming it would break worktrees
    if "description" in fields and data.description is not None:
        item.description = data.description
    if "service" in fields:
        item.service = data.service
    if "assignee" in fields:
        assignee = _resolve_assignee(session, data.assignee)
        item.assignee_id = assignee.id if assignee else None
    if "notes" in fields and data.notes is not None:
        set_notes_checked(data.notes)
        item.notes = data.notes
    if "status" in fields and data.status is not None:
        if data.status not in (WorkStatus.PLANNING, WorkStatus.IN_PROGRESS):
            raise Invalid("Status can be set to planning or in_progress; merge completes a work item and "
                          "cancel cancels it.", details=[{"field": "status", "message": "not allowed"}])
        item.status = data.status.value
    item.updated_at = utcnow()
    session.flush()
    session.refresh(item)
    audit_service.record(session=session, actor=actor, action="work_item.update", object_type="work_item",
                         object_id=item.id, summary=f"updated #{item.id}", before=before,
                         after=snapshot(item))
    _record_event(session, item, WorkItemChange.UPDATED)
    session.commit()
    notify_work_item_changed(session=session, item=item)
    return item


def set_notes_checked(notes: str) -> None:
    if len(notes) > NOTES_MAX:
        raise Invalid(f"Notes hold at most {NOTES_MAX} characters; these have {len(notes)}. Shorten them "
                      "or move details into a doc.",
                      details=[{"field": "notes", "message": f"at most {NOTES_MAX} characters"}])


# -- checklist -------------------------------------------------------------------------------------------

def _checklist_item(item: WorkItem, index: int) -> ChecklistItem:
    if index < 0 or index >= len(item.checklist):
        raise NotFound(f"Work item #{item.id} has no checklist item {index} (it has {len(item.checklist)}, "
                       "numbered from 0).")
    return item.checklist[index]


def set_checklist_done(*, session: Session, actor: User, item_id: int, index: int, done: bool) -> WorkItem:
    item = get_work_item(session=session, item_id=item_id)
    _require_open(item)
    entry = _checklist_item(item, index)
    if entry.done != done:
        entry.done = done
        item.updated_at = utcnow()
        audit_service.record(session=session, actor=actor, action="work_item.checklist",
                             object_type="work_item", object_id=item.id,
                             summary=f"{'ticked' if done else 'unticked'} {entry.text!r}",
                             before={"index": index, "done": not done}, after={"index": index, "done": done})
        session.commit()
    return item


def add_checklist_item(*, session: Session, actor: User, item_id: int, text: str) -> WorkItem:
    item = get_work_item(session=session, item_id=item_id)
    _require_open(item)
    text = " ".join(text.split())
    if not text or len(text) > 300:
        raise Invalid("A checklist item needs 1 to 300 characters.")
    if len(item.checklist) >= 100:
        raise Invalid("A checklist holds at most 100 items.")
    position = (item.checklist[-1].position + 1) if item.checklist else 0
    item.checklist.append(ChecklistItem(position=position, text=text, done=False))
    audit_service.record(session=session, actor=actor, action="work_item.checklist", object_type="work_item",
                         object_id=item.id, summary=f"added checklist item {text!r}", after={"text": text})
    session.commit()
    session.refresh(item)
    return item


def remove_checklist_item(*, session: Session, actor: User, item_id: int, index: int) -> WorkItem:
    item = get_work_item(session=session, item_id=item_id)
    _require_open(item)
    entry = _checklist_item(item, index)
    item.checklist.remove(entry)
    audit_service.record(session=session, actor=actor, action="work_item.checklist", object_type="work_item",
                         object_id=item.id, summary=f"removed checklist item {entry.text!r}",
                         before={"text": entry.text, "done": entry.done})
    session.commit()
    session.refresh(item)
    return item


# -- files and commits -------------------------------------------------------------------------------------

def worktree_of(item: WorkItem) -> Path:
    path = Path(item.worktree_path)
    if not path.is_dir():
        raise Conflict(f"The worktree of #{item.id} is missing ({path}); restart Calcifer to repair it.",
                       code="worktree_missing")
    return path


def read_file(*, session: Session, item_id: int, path: str) -> str:
    item = get_work_item(session=session, item_id=item_id)
    _require_open(item)
    return git.read_worktree_file(worktree_path=worktree_of(item), path=path)


def write_file(*, session: Session, actor: User, item_id: int, path: str, content: str) -> bool:
    """Write a text file in the work item's worktree; returns True when it was created."""
    item = get_work_item(session=session, item_id=item_id)
    _require_open(item)
    created = git.write_worktree_file(worktree_path=worktree_of(item), path=path, content=content)
    _touch(item)
    audit_service.record(session=session, actor=actor, action="work_item.file_write", object_type="work_item",
                         object_id=item.id, summary=f"{'created' if created else 'edited'} {path}",
                         after={"path": path, "bytes": len(content.encode())})
    session.commit()
    return created


def delete_file(*, session: Session, actor: User, item_id: int, path: str) -> None:
    item = get_work_item(session=session, item_id=item_id)
    _require_open(item)
    git.delete_worktree_file(worktree_path=worktree_of(item), path=path)
    _touch(item)
    audit_service.record(session=session, actor=actor, action="work_item.file_delete",
                         object_type="work_item", object_id=item.id, summary=f"deleted {path}",
                         before={"path": path})
    session.commit()


def changes(*, session: Session, item_id: int) -> list[git.FileChange]:
    item = get_work_item(session=session, item_id=item_id)
    if item.status not in OPEN_STATUSES or not Path(item.worktree_path).is_dir():
        return []
    return git.worktree_changes(worktree_path=Path(item.worktree_path))


def _changelog_base_ref(workspace: Workspace, item: WorkItem, merged: bool | None = None) -> str:
    """The commit whose CHANGES.md the branch's own entries are measured against.

    The merge base with main, so entries brought in by "update from main" don't count as the
    branch's; once merged (the merge base is the tip itself) the commit the branch started from.
    ``merged``: the branch status's, when the caller has it.
    """
    if merged is None:
        merged = git.branch_status(repo_path=workspace.repo_path, branch=item.branch).merged
    if merged:
        return item.base_commit
    return git.merge_base(repo_path=workspace.repo_path, branch=item.branch) or item.base_commit


def branch_changelog_entries(*, workspace: Workspace, item: WorkItem,
                             merged: bool | None = None) -> list[changelog.Entry]:
    if not git.branch_exists(repo_path=workspace.repo_path, branch=item.branch):
        return []
    base_ref = _changelog_base_ref(workspace, item, merged)
    tip_id = git.blob_id_at(repo_path=workspace.repo_path, path=CHANGELOG_PATH, ref=item.branch)
    if tip_id is None:
        return []
    base_id = git.blob_id_at(repo_path=workspace.repo_path, path=CHANGELOG_PATH, ref=base_ref)
    if base_id == tip_id:
        return []
    found = _ENTRIES_ADDED.get((base_id, tip_id))
    if found is None:
        base = git.read_file_at(repo_path=workspace.repo_path, path=CHANGELOG_PATH, ref=base_ref)
        tip = git.read_file_at(repo_path=workspace.repo_path, path=CHANGELOG_PATH, ref=item.branch)
        found = _remember_entries_added(base_id, tip_id, base, tip or b"")
    return list(found)


# Reading and parsing a long CHANGES.md costs milliseconds; the commit, the check and the merge ask
# about the same two versions. By blob id (content-addressed): (base, tip) -> the tip's new entries.
_ENTRIES_ADDED: OrderedDict[tuple[str | None, str], tuple[changelog.Entry, ...]] = OrderedDict()
_ENTRIES_ADDED_LOCK = threading.Lock()


def _remember_entries_added(base_id: str | None, tip_id: str, base: bytes | None,
                            tip: bytes) -> tuple[changelog.Entry, ...]:
    found = tuple(changelog.entries_added(base.decode() if base else None, tip.decode()))
    with _ENTRIES_ADDED_LOCK:
        _ENTRIES_ADDED[(base_id, tip_id)] = found
        while len(_ENTRIES_ADDED) > 32:
            _ENTRIES_ADDED.popitem(last=False)
    return found


def commit(
    *, session: Session, actor: User, item_id: int, workspace: Workspace, message: str,
    files: list[str] | None, entry_type: ChangeType | None, entry_text: str | None,
    today: dt.date | None = None,
) -> str:
    """Commit the worktree's changes, writing the changelog entry into CHANGES.md in the same commit.

    Raises Conflict when there is nothing to commit, or when the branch has no changelog entry yet and
    none is given.
    """
    item = get_work_item(session=session, item_id=item_id)
    _require_open(item)
    worktree = worktree_of(item)
    message = message.strip()
    if not message:
        raise Invalid("Write a commit message saying what changed.", details=[
            {"field": "message", "message": "required"}])
    extra: dict[str, bytes] = {}
    if entry_text and entry_text.strip():
        if entry_type is None:
            raise Invalid("Choose the changelog entry's type (Added, Changed, ...).")
        current = (worktree / CHANGELOG_PATH).read_text() if (worktree / CHANGELOG_PATH).is_file() else ""
        updated = changelog.add_entry(current, entry_type=entry_type, entry_text=entry_text.strip(),
                                      work_item_id=item.id, on=today or dt.datetime.now(dt.UTC).date())
        extra[CHANGELOG_PATH] = updated.encode()
        if current:
            # The merge check will ask what this commit's CHANGES.md adds to the one it started from
            # (the same question, by blob id, when the branch's file was main's): answer it now.
            before = current.encode()
            _remember_entries_added(blob_hash(before), blob_hash(extra[CHANGELOG_PATH]), before,
                                    extra[CHANGELOG_PATH])
    elif not branch_changelog_entries(workspace=workspace, item=item) and not _changelog_edited(
            worktree, files):
        raise Conflict("This branch has no CHANGES.md entry yet: add one (type and one line of text) "
                       "with this commit.", code="changelog_entry_required",
                       problems=[Problem(MergeProblem.NO_CHANGELOG_ENTRY, "Add a changelog entry.")])
    commit_id = git.commit_worktree(worktree_path=worktree, message=message, author=author_for(actor),
                                    files=files, extra_files=extra or None)
    _touch(item)
    audit_service.record(session=session, actor=actor, action="work_item.commit", object_type="work_item",
                         object_id=item.id, summary=f"committed {commit_id[:10]}: {message.splitlines()[0]}",
                         after={"commit": commit_id, "files": files, "changelog": entry_text})
    session.commit()
    notify_work_item_changed(session=session, item=item)
    return commit_id


def _changelog_edited(worktree: Path, files: list[str] | None) -> bool:
    """True when the commit itself carries a hand-written CHANGES.md edit that adds an entry."""
    if files is not None and CHANGELOG_PATH not in files:
        return False
    for change in git.worktree_changes(worktree_path=worktree):
        if change.path == CHANGELOG_PATH and change.status in ("added", "modified"):
            added_lines = [line for line in change.diff.splitlines()
                           if line.startswith("+") and not line.startswith("+++")]
            return any(line[1:].lstrip().startswith(("- ", "* ")) for line in added_lines)
    return False


# The most commits of one branch anything lists (the API pages through them).
MAX_BRANCH_COMMITS = 10_000


def commits(*, session: Session, item_id: int, workspace: Workspace, limit: int = 200) -> list[git.CommitInfo]:
    """The branch's commits that main lacks, newest first, at most ``limit``. Raises NotFound."""
    item = get_work_item(session=session, item_id=item_id)
    if not git.branch_exists(repo_path=workspace.repo_path, branch=item.branch):
        return []
    return git.commits_ahead(repo_path=workspace.repo_path, branch=item.branch, limit=limit)


def branch_status(*, workspace: Workspace, item: WorkItem) -> git.BranchStatus | None:
    if not item.branch or not git.branch_exists(repo_path=workspace.repo_path, branch=item.branch):
        return None
    return git.branch_status(repo_path=workspace.repo_path, branch=item.branch, file_mergers=file_mergers())


# -- merge and complete -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MergeReport:
    """What the merge check found: `problems` refuse the merge; `warnings` are listed and do not; `on_main`
    are problems main already has that the branch did not cause (shown apart, never refusing)."""

    problems: list[Problem]
    warnings: list[Problem]
    on_main: list[Problem]

    @property
    def ready(self) -> bool:
        return not self.problems


def merge_report(*, session: Session, item: WorkItem, workspace: Workspace) -> MergeReport:
    """Every rule for merge-and-complete, all at once, sorted into refusing problems, warnings and main's own."""
    found = _merge_findings(session=session, item=item, workspace=workspace)
    return MergeReport(problems=[p for p in found if p.refuses],
                       warnings=[p for p in found if not p.blocking and not p.on_main],
                       on_main=[p for p in found if p.on_main])


def merge_problems(*, session: Session, item: WorkItem, workspace: Workspace) -> list[Problem]:
    """Every unmet rule for merge-and-complete, all at once (empty when ready)."""
    return merge_report(session=session, item=item, workspace=workspace).problems


def _merge_findings(*, session: Session, item: WorkItem, workspace: Workspace) -> list[Problem]:
    if item.status not in OPEN_STATUSES:
        return [Problem(MergeProblem.NOT_OPEN, f"The work item is {item.status}.")]
    problems: list[Problem] = []
    open_items = [c.text for c in item.checklist if not c.done]
    if open_items:
        shown = "; ".join(open_items[:5]) + (" …" if len(open_items) > 5 else "")
        problems.append(Problem(MergeProblem.CHECKLIST_INCOMPLETE,
                                f"{len(open_items)} checklist item(s) not done: {shown}"))
    if not item.notes.strip():
        problems.append(Problem(MergeProblem.NOTES_EMPTY,
                                "The notes are empty: write what was done, why and how to roll back."))
    worktree = Path(item.worktree_path)
    # The worktree's status (a walk of every file, mostly system calls) runs in a thread of its own while
    # the branch status, the changelog and the merge rules, which read only git objects and the database,
    # run here. (A merged branch's walk is not needed; such a work item rarely still has its worktree.)
    with (git.worktree_state_ahead(worktree_path=worktree) if worktree.is_dir() else nullcontext(None)) \
            as worktree_state:
        status = branch_status(workspace=workspace, item=item)
        if status is None:
            problems.append(Problem(MergeProblem.BRANCH_MISSING, f"The branch {item.branch} does not exist."))
            return problems
        if not status.merged and status.ahead == 0:
            problems.append(Problem(MergeProblem.NO_COMMITS, "The branch has no commits: commit a change first."))
        has_entry = bool(branch_changelog_entries(workspace=workspace, item=item, merged=status.merged))
        ruled = [p for rule in MERGE_RULES for p in rule(session=session, item=item, workspace=workspace)]
        state = worktree_state() if worktree_state is not None and not status.merged else None
    if not has_entry:
        problems.append(Problem(MergeProblem.NO_CHANGELOG_ENTRY,
                                "The branch adds no CHANGES.md entry: commit one with the changelog form."))
    unresolved: list[str] = []
    if not status.merged:
        if state is None:
            problems.append(Problem(MergeProblem.WORKTREE_MISSING,
                                    "The worktree is missing; restart Calcifer to repair it."))
        else:
            unresolved, changed = state
            if unresolved:
                problems.append(Problem(MergeProblem.UNRESOLVED_CONFLICTS,
                                        "Resolve and commit the conflicts from updating with main: "
                                        + ", ".join(unresolved)))
            pending = [c.path for c in changed if c.path not in unresolved]
            if pending:
                problems.append(Problem(MergeProblem.UNCOMMITTED_CHANGES,
                                        f"{len(pending)} uncommitted change(s): " + ", ".join(pending[:10])))
        if status.conflicts and not unresolved:
            # While the worktree holds conflicts from an update, resolving them is the one thing to do.
            problems.append(Problem(MergeProblem.MERGE_CONFLICT,
                                    "The branch conflicts with main in: " + ", ".join(status.conflicts)
                                    + ". Use “Update from main” and resolve them."))
    problems.extend(ruled)
    return problems


def _claim_merge(session: Session, item_id: int) -> bool:
    """Atomically mark the work item as merging; exactly one concurrent caller gets True."""
    now = utcnow()
    result = session.execute(
        update(WorkItem)
        .where(WorkItem.id == item_id, WorkItem.status.in_(OPEN_STATUSES),
               or_(WorkItem.merging_since.is_(None), WorkItem.merging_since < now - MERGE_CLAIM_TIMEOUT))
        .values(merging_since=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(getattr(result, "rowcount", 0) == 1)


def _release_claim(session: Session, item_id: int) -> None:
    session.rollback()
    session.execute(update(WorkItem).where(WorkItem.id == item_id).values(merging_since=None)
                    .execution_options(synchronize_session=False))
    session.commit()


def merge_trailer(item_id: int) -> str:
    return f"Work-Item: {item_id}"


def _after_git_merge(item: WorkItem, merge_commit: str) -> None:
    """Seam between the git merge and the database update (tests inject a crash here)."""


def merge_and_complete(*, session: Session, actor: User, item_id: int, workspace: Workspace) -> WorkItem:
    """Validate every rule, merge the branch into main (a merge commit), complete the work item.

    Raises Conflict listing every unmet rule, or when another merge of this item is running.
    """
    item = get_work_item(session=session, item_id=item_id)
    if item.status == WorkStatus.COMPLETE.value:
        raise Conflict(f"Work item #{item.id} is already complete.", code="already_complete",
                       problems=[Problem(MergeProblem.NOT_OPEN, "Already complete.")])
    if not _claim_merge(session, item.id):
        session.refresh(item)
        if item.status == WorkStatus.COMPLETE.value:
            raise Conflict(f"Work item #{item.id} is already complete.", code="already_complete",
                           problems=[Problem(MergeProblem.NOT_OPEN, "Already complete.")])
        raise Conflict(f"Work item #{item.id} is being merged right now, or is not open.",
                       code="merge_in_progress",
                       problems=[Problem("merge_in_progress", "Another merge of this work item is running.")])
    try:
        session.refresh(item)
        problems = merge_problems(session=session, item=item, workspace=workspace)
        if problems:
            raise Conflict(f"Work item #{item.id} cannot be merged yet: {len(problems)} rule(s) unmet.",
                           code="merge_refused", problems=problems)
        status = git.branch_status(repo_path=workspace.repo_path, branch=item.branch)
        main_before = git.main_head(repo_path=workspace.repo_path)
        before = snapshot(item)
        if status.merged:
            # Merged outside Calcifer: only the documentation rules applied; record where it landed.
            merge_commit = git.find_merging_commit(repo_path=workspace.repo_path, branch=item.branch)
        else:
            message = (f"Merge work item #{item.id}: {item.title}\n\nBranch: {item.branch}\n\n"
                       f"{merge_trailer(item.id)}\n")
            extra: dict[str, bytes] = {}
            for hook in MERGE_EXTRA_FILES:
                extra.update(hook(session=session, item=item, workspace=workspace, actor=actor))
            merge_commit = git.merge_into_main(repo_path=workspace.repo_path, branch=item.branch,
                                               author=author_for(actor), message=message,
                                               file_mergers=file_mergers(), extra_files=extra or None)
        _after_git_merge(item, merge_commit or "")
        item.status = WorkStatus.COMPLETE.value
        item.merge_commit = merge_commit
        item.completed_at = utcnow()
        item.merging_since = None
        audit_service.record(session=session, actor=actor, action="work_item.merge", object_type="work_item",
                             object_id=item.id, summary=f"merged and completed #{item.id} as "
                             f"{(merge_commit or '?')[:10]}", before=before, after=snapshot(item))
        _record_event(session, item, WorkItemChange.MERGED)
        session.commit()
    except BaseException:
        _release_claim(session, item_id)
        raise
    # The worktree, clean as the check required, becomes a spare for the next work item's worktree
    # (see gitrepo.spares). When the pool is full its files are deleted by a child process while the
    # after-merge hooks re-index here (both finish before the merge returns). Then its record is pruned
    # and the branch deleted.
    removal = None
    try:
        worktree = git.confine_worktree(worktrees_dir=workspace.worktrees_dir, path=item.worktree_path)
        if not git.retire_worktree(repo_path=workspace.repo_path, worktree_name=item.worktree_name,
                                   worktree_path=worktree):
            removal = git.start_folder_removal(repo_path=workspace.repo_path, worktree_path=worktree)
    except Exception:  # noqa: BLE001, S110 - _cleanup_branch below removes it, or logs why it cannot
        pass
    try:
        notify_main_changed(session=session, repo_path=workspace.repo_path, before=main_before)
    finally:
        git.finish_folder_removal(removal)
    _cleanup_branch(workspace, item)
    notify_work_item_changed(session=session, item=item)
    return item


def _cleanup_branch(workspace: Workspace, item: WorkItem) -> None:
    # After the database says complete; a failure here is repaired by `reconcile` at the next start.
    try:
        git.remove_work_branch(repo_path=workspace.repo_path, branch=item.branch, worktree_name=item.worktree_name,
                               worktree_path=git.confine_worktree(worktrees_dir=workspace.worktrees_dir,
                                                                  path=item.worktree_path))
    except Exception:  # noqa: BLE001 - logged; reconciliation finishes the job
        log.exception("could not remove the branch and worktree of #%s", item.id)


def update_from_main(*, session: Session, actor: User, item_id: int, workspace: Workspace) -> list[str]:
    """Merge main into the branch; returns the conflicted paths left in the worktree (empty if clean)."""
    item = get_work_item(session=session, item_id=item_id)
    _require_open(item)
    commit_id, conflicts = git.update_from_main(worktree_path=worktree_of(item), author=author_for(actor),
                                                file_mergers=file_mergers())
    _touch(item)
    audit_service.record(session=session, actor=actor, action="work_item.update_from_main",
                         object_type="work_item", object_id=item.id,
                         summary=("conflicts in " + ", ".join(conflicts)) if conflicts
                         else (f"merged main as {commit_id[:10]}" if commit_id else "already up to date"),
                         after={"commit": commit_id, "conflicts": conflicts})
    session.commit()
    return conflicts


# -- conflicts left by an update from main -----------------------------------------------------------------

def conflicts(*, session: Session, item_id: int) -> list[git.ConflictFile]:
    """The files the update from main in progress conflicted in (resolved or not); empty when none is.
    Raises NotFound."""
    item = get_work_item(session=session, item_id=item_id)
    if item.status not in OPEN_STATUSES or not Path(item.worktree_path).is_dir():
        return []
    return git.conflict_files(worktree_path=Path(item.worktree_path), file_mergers=file_mergers())


def resolve_conflict(*, session: Session, actor: User, item_id: int, path: str, content: str | None = None,
                     choices: list[git.HunkChoice] | None = None, take: str | None = None) -> git.ConflictFile:
    """Resolve (part of) one conflicted file: its merged ``content``, hunk ``choices`` or a whole side
    (``take``); see ``gitrepo.resolve_file``. Returns the file as it stands."""
    item = get_work_item(session=session, item_id=item_id)
    _require_open(item)
    file = git.resolve_file(worktree_path=worktree_of(item), path=path, file_mergers=file_mergers(),
                            content=content, choices=choices, take=take)
    how = (f"took {take}" if take else "chose hunks " + ", ".join(f"{c.number}:{c.take or 'edited'}" for c in choices)
           if choices else "edited the merged text")
    _touch(item)
    audit_service.record(session=session, actor=actor, action="work_item.conflict_resolve", object_type="work_item",
                         object_id=item.id, summary=f"{file.path}: {how}"[:300],
                         after={"path": file.path, "resolved": file.resolved})
    session.commit()
    return file


def finish_conflicts(*, session: Session, actor: User, item_id: int, workspace: Workspace) -> str:
    """Commit the resolved update from main (a merge commit with both parents) once no conflict is left and
    the result passes the merge check's validation (``RESOLUTION_RULES``). Returns the commit id.

    Raises Conflict code "unresolved_conflicts" (every path still conflicted), "invalid_resolution" (every
    problem of the resolved files), "no_conflicts" or "branch_moved"; the branch is unchanged then.
    """
    item = get_work_item(session=session, item_id=item_id)
    _require_open(item)
    worktree = worktree_of(item)
    resolution = git.resolution_commit(worktree_path=worktree, author=author_for(actor))
    problems: list[Problem] = []
    for rule in RESOLUTION_RULES:
        problems.extend(rule(session=session, repo_path=workspace.repo_path, base=resolution.merged,
                             tip=resolution.commit))
    refusing = [p for p in problems if p.refuses]
    if refusing:
        raise Conflict(f"The resolved files would not pass the merge check ({len(refusing)} problem(s)): "
                       "fix them and resolve again.", code="invalid_resolution", problems=refusing)
    git.finish_resolution(worktree_path=worktree, resolution=resolution)
    _touch(item)
    audit_service.record(session=session, actor=actor, action="work_item.conflicts_resolved",
                         object_type="work_item", object_id=item.id,
                         summary=f"resolved the update from main as {resolution.commit[:10]}",
                         after={"commit": resolution.commit})
    session.commit()
    notify_work_item_changed(session=session, item=item)
    return resolution.commit


def cancel(*, session: Session, actor: User, item_id: int, workspace: Workspace, confirm: bool) -> WorkItem:
    """Cancel: remove worktree and branch. Unmerged commits need `confirm` and are kept by a tag."""
    item = get_work_item(session=session, item_id=item_id)
    _require_open(item)
    status = branch_status(workspace=workspace, item=item)
    unmerged = status is not None and not status.merged and status.ahead > 0
    if unmerged and not confirm:
        assert status is not None
        raise Conflict(f"The branch has {status.ahead} unmerged commit(s). Confirm to cancel: they will be "
                       f"kept under the tag archive/{item.branch}.", code="confirmation_required",
                       problems=[Problem("unmerged_commits", f"{status.ahead} unmerged commit(s)")])
    before = snapshot(item)
    if unmerged:
        item.archive_tag = git.archive_branch(repo_path=workspace.repo_path, branch=item.branch)
    item.status = WorkStatus.CANCELLED.value
    item.completed_at = utcnow()
    audit_service.record(session=session, actor=actor, action="work_item.cancel", object_type="work_item",
                         object_id=item.id, summary=f"cancelled #{item.id}"
                         + (f", commits kept at {item.archive_tag}" if item.archive_tag else ""),
                         before=before, after=snapshot(item))
    _record_event(session, item, WorkItemChange.CANCELLED)
    session.commit()
    _cleanup_branch(workspace, item)
    notify_work_item_changed(session=session, item=item)
    return item


# -- standard changes ----------------------------------------------------------------------------------------------

T = TypeVar("T")


def require_standard_changes(*, session: Session) -> None:
    """Raise Conflict (standard_changes_disabled) when an admin switched standard changes off."""
    if not prefs.get_bool(session=session, key=Pref.STANDARD_CHANGES_ENABLED):
        raise Conflict("Standard changes are switched off by an admin: use a normal work item.",
                       code="standard_changes_disabled")


def run_standard_change(
    *, session: Session, actor: User, workspace: Workspace, categories: list[str], data: WorkItemCreate,
    change: Callable[[WorkItem], T], notes: Callable[[T], str],
) -> tuple[WorkItem, T]:
    """A pre-approved change in one call: a `standard` work item is created, `change(item)` commits on
    its branch, the notes come from `notes(result)`, the checklist is ticked, then it is merged and
    completed. Callers validate first (and call `require_standard_changes`). If a later step fails the
    work item is cancelled (its commits kept by an archive tag) and the error raised, so main is never
    half-changed. Returns the completed work item and what `change` returned."""
    item = create_work_item(session=session, actor=actor, workspace=workspace,
                            categories=[*categories, STANDARD_CATEGORY],
                            data=data.model_copy(update={"category": STANDARD_CATEGORY}))
    try:
        result = change(item)
        item = get_work_item(session=session, item_id=item.id)
        for entry in item.checklist:
            entry.done = True
        item.notes = notes(result)
        session.commit()
        item = merge_and_complete(session=session, actor=actor, item_id=item.id, workspace=workspace)
    except DomainError:
        session.rollback()
        if get_work_item(session=session, item_id=item.id).status in OPEN_STATUSES:
            cancel(session=session, actor=actor, item_id=item.id, workspace=workspace, confirm=True)
        raise
    return item, result


# -- reconciliation ------------------------------------------------------------------------------------------------

def confine_worktree_paths(*, session: Session, worktrees_dir: Path, origin: str) -> None:
    """Re-derive every work item's worktree path under ``worktrees_dir`` (``gitrepo.confine_worktree``):
    the paths of a restored database are another installation's, or forged. Does not commit; the items'
    ``updated_at`` is kept (the items themselves did not change). Raises Invalid naming the first item
    whose path cannot be a worktree (as "work item #N of ``origin``"), before any row is changed."""
    rows = session.execute(select(WorkItem.id, WorkItem.worktree_path).where(WorkItem.worktree_path != "")).all()
    changed: list[tuple[int, str]] = []
    for item_id, path in rows:
        try:
            confined = str(git.confine_worktree(worktrees_dir=worktrees_dir, path=path))
        except Invalid as exc:
            raise Invalid(f"work item #{item_id} of {origin}: {exc.message}") from exc
        if confined != path:
            changed.append((item_id, confined))
    for item_id, confined in changed:  # a Core update: the ORM's onupdate would touch updated_at
        session.execute(update(WorkItem).where(WorkItem.id == item_id).values(
            worktree_path=confined, updated_at=WorkItem.updated_at).execution_options(synchronize_session=False))


def reconcile(*, session: Session, repo_path: Path, worktrees_dir: Path) -> list[str]:
    """Make work items agree with the branches and worktrees that really exist; return what was repaired.

    - an open item whose branch a Calcifer merge already landed on main (crash between the git merge
      and the database update) is completed with that merge commit;
    - an open item whose worktree vanished gets it back from its branch;
    - an open item whose branch vanished is cancelled (its commits, if any, are in an archive tag);
    - a finished item's leftover worktree and branch are removed;
    - a stale merge claim (crash during a merge) is released.
    """
    workspace = Workspace(repo_path=repo_path, worktrees_dir=worktrees_dir)
    repairs: list[tuple[int | None, str]] = []
    items = list(session.scalars(select(WorkItem).where(or_(
        WorkItem.status.in_(OPEN_STATUSES), WorkItem.branch != ""))).unique())
    branches = set(git.list_branches(repo_path=repo_path))
    for item in items:
        if not item.branch:
            continue
        try:
            worktree = git.confine_worktree(worktrees_dir=worktrees_dir, path=item.worktree_path)
        except Invalid as exc:
            repairs.append((item.id, f"#{item.id}: its worktree was left alone: {exc.message}"))
            continue
        if str(worktree) != item.worktree_path:
            # A path from another installation or edited in the database: only the worktrees folder is used.
            repairs.append((item.id, f"#{item.id}: worktree path {item.worktree_path[:300]} moved to {worktree}"))
            item.worktree_path = str(worktree)
        is_open = item.status in OPEN_STATUSES
        if is_open and item.merging_since is not None:
            item.merging_since = None
            repairs.append((item.id, f"#{item.id}: released an interrupted merge claim"))
        if is_open and item.branch in branches:
            landed = git.find_commit_with_trailer(repo_path=repo_path, trailer=merge_trailer(item.id))
            if landed and git.branch_status(repo_path=repo_path, branch=item.branch).merged:
                before = snapshot(item)
                item.status = WorkStatus.COMPLETE.value
                item.merge_commit = landed
                item.completed_at = utcnow()
                audit_service.record(session=session, actor=None, action="work_item.reconcile",
                                     object_type="work_item", object_id=item.id,
                                     summary=f"completed #{item.id}: its merge {landed[:10]} is on main",
                                     before=before, after=snapshot(item))
                repairs.append((item.id, f"#{item.id}: merge {landed[:10]} found on main; marked complete"))
                is_open = False
        if is_open:
            if item.branch not in branches:
                before = snapshot(item)
                item.status = WorkStatus.CANCELLED.value
                item.completed_at = utcnow()
                audit_service.record(session=session, actor=None, action="work_item.reconcile",
                                     object_type="work_item", object_id=item.id,
                                     summary=f"cancelled #{item.id}: its branch {item.branch} is gone",
                                     before=before, after=snapshot(item))
                repairs.append((item.id, f"#{item.id}: branch {item.branch} is gone; marked cancelled"))
                _cleanup_branch(workspace, item)
            elif git.ensure_worktree(repo_path=repo_path, branch=item.branch, worktree_name=item.worktree_name,
                                     worktree_path=worktree):
                repairs.append((item.id, f"#{item.id}: recreated the missing worktree {worktree}"))
        elif item.branch in branches or worktree.exists():
            if item.status == WorkStatus.CANCELLED.value and item.branch in branches and item.archive_tag is None:
                status = git.branch_status(repo_path=repo_path, branch=item.branch)
                if not status.merged and status.ahead > 0:
                    item.archive_tag = git.archive_branch(repo_path=repo_path, branch=item.branch)
            _cleanup_branch(workspace, item)
            repairs.append((item.id, f"#{item.id}: removed the leftover branch/worktree of a "
                                     f"{item.status} work item"))
    if git.prune_spares(worktrees_dir=worktrees_dir):
        repairs.append((None, "removed spare worktrees left half-made by an interrupted create or merge"))
    for item_id, message in repairs:
        session.add(RepairReport(work_item_id=item_id, message=message))
    session.commit()
    return [message for _, message in repairs]


def recent_repairs(*, session: Session, limit: int = 20) -> list[RepairReport]:
    return list(session.scalars(select(RepairReport).order_by(RepairReport.id.desc()).limit(limit)))


# -- changelog on main ------------------------------------------------------------------------------------------------

def main_changelog_entries(*, repo_path: Path, limit: int) -> list[changelog.Entry]:
    text = git.read_file_at(repo_path=repo_path, path=CHANGELOG_PATH)
    return changelog.latest_entries(text.decode() if text else "", limit=limit)


@dataclass(frozen=True)
class LatestChange:
    entry: changelog.Entry
    merged_at: dt.datetime | None  # when its work item merged; None: no work item of Calcifer's wrote it


def latest_changes(*, session: Session, repo_path: Path, limit: int) -> list[LatestChange]:
    """Main's newest ``limit`` changelog entries by when they reached main, newest first.

    An entry is dated by the day its commit was written, and sits in its heading's block in the order
    written: a work item committed last week and merged today is under last week's date. So an entry
    of a work item takes the item's merge time; one without (written by hand) its section's date at
    midnight UTC, and undated sections (Unreleased) count as newest. Ties keep the file's order.
    Reads only the ``limit`` most recently merged work items and the items of at most ``limit`` others.
    """
    if limit <= 0:
        return []
    entries = main_changelog_entries(repo_path=repo_path, limit=1_000_000)
    merged_at = {item.id: item.completed_at for item in
                 recent(session=session, statuses=(WorkStatus.COMPLETE.value,), limit=limit)}
    # Entries of older merges rank below every entry of those items; only hand-written ones may not.
    window = [entry for entry in entries if entry.work_item_id in merged_at]
    others = [entry for entry in entries if entry.work_item_id not in merged_at][:limit]
    for item_id, item in get_work_items(session=session, ids={entry.work_item_id for entry in others
                                                              if entry.work_item_id is not None}).items():
        if item.status == WorkStatus.COMPLETE.value:
            merged_at[item_id] = item.completed_at

    def when(entry: changelog.Entry) -> dt.datetime:
        at = merged_at.get(entry.work_item_id) if entry.work_item_id is not None else None
        if at is not None:
            return at
        day = entry.date
        return (dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) if day is not None
                else dt.datetime.max.replace(tzinfo=dt.UTC))

    ordered = sorted(window + others, key=when, reverse=True)[:limit]
    return [LatestChange(entry=entry, merged_at=merged_at.get(entry.work_item_id)
                         if entry.work_item_id is not None else None) for entry in ordered]

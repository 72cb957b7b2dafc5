"""Pull requests: the forge's settings, opening a work item's pull request (its branch pushed to the
remote, its notes, checklist and changelog entry as the body), its state, and completing the work item
once the forge merged it.

The forge is spoken to through ``providers.FORGES`` only. Completion happens at a fetch (the remote
slice's ``AFTER_FETCH`` hook, ``complete_merged``): when main holds the branch's tip (a merge commit), or
the forge says merged and main holds the branch's changes as the commit it names (a squash or rebase
merge: the work branch then moves to that commit), merge-and-complete runs with its documentation rules;
unmet ones are posted to the pull request once per distinct set and the work item stays open. What the
forge's merge wrote on main is Calcifer's own doing, not an outside change (``own_commits``, the remote
slice's ``OWN_COMMITS`` hook, which asks the forge for the state of open pull requests when a fetch
brings commits).
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from calcifer import gitrepo as git
from calcifer.audit import service as audit_service
from calcifer.auth import service as auth_service
from calcifer.auth.models import User
from calcifer.db import utcnow
from calcifer.errors import Conflict, DomainError, Invalid, NotFound, Problem
from calcifer.pulls.choices import ForgeKind, PullState
from calcifer.pulls.models import ForgeConfig, PullRequest
from calcifer.pulls.providers import Forge, ForgeError, PullInfo, forge_for
from calcifer.pulls.schemas import ForgeUpdate
from calcifer.remote import service as remote_service
from calcifer.sealed import SealError, seal, unseal
from calcifer.urls import url_problem
from calcifer.work import service as work_service
from calcifer.work.choices import OPEN_STATUSES, WorkStatus
from calcifer.work.models import WorkItem

log = logging.getLogger("calcifer.pulls")

TOKEN_PURPOSE = "forge-token"
BASE_BRANCH = "main"
# The Conflict code of merge-and-complete when rules are unmet (work.service.merge_and_complete).
MERGE_REFUSED = "merge_refused"
MAX_BODY_CHARS = 60_000  # GitHub's limit on a pull request body is 65,536
_OWNER_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_GITLAB_PROJECT = re.compile(r"^(?:[0-9]+|[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+)$")


# -- settings -----------------------------------------------------------------------------------------

def get_config(*, session: Session) -> ForgeConfig | None:
    return session.get(ForgeConfig, 1)


def require_config(*, session: Session) -> ForgeConfig:
    config = get_config(session=session)
    if config is None:
        raise NotFound("No forge is set: choose one under Settings → Repository, Pull requests.", code="no_forge")
    return config


def forge_state(*, session: Session) -> dict[str, Any] | None:
    """The forge's settings as the API and the settings page show them (never the token)."""
    config = get_config(session=session)
    if config is None:
        return None
    return {"kind": config.kind, "api_url": config.api_url, "repository": config.repository,
            "has_token": bool(config.token_sealed)}


def _token(secret_key: str, config: ForgeConfig) -> str:
    try:
        return unseal(secret_key, TOKEN_PURPOSE, config.token_sealed) if config.token_sealed else ""
    except SealError:
        log.warning("the stored forge token cannot be opened with this instance's key")
        return ""


def _check_repository(kind: ForgeKind, repository: str) -> str:
    value = repository.strip().strip("/")
    pattern = _GITLAB_PROJECT if kind == ForgeKind.GITLAB else _OWNER_NAME
    if not pattern.match(value) or any(part in (".", "..") for part in value.split("/")):
        shape = "the project's path (group/name) or id" if kind == ForgeKind.GITLAB else "owner/name"
        raise Invalid(f"The repository must be {shape}, not {repository!r}.",
                      details=[{"field": "repository", "message": f"write {shape}"}])
    return value


def _refused(exc: ForgeError) -> DomainError:
    """A forge failure as a domain error: a refusal the person must fix (422), or a forge out of reach
    (409, try again)."""
    if exc.permanent:
        return Invalid(exc.message, code="forge_refused")
    return Conflict(exc.message, code="forge_unreachable",
                    problems=[Problem("forge_unreachable", exc.message)])


def set_forge(*, session: Session, actor: User, secret_key: str, data: ForgeUpdate) -> ForgeConfig:
    """Save where pull requests are opened, after asking the forge for the repository with the token: a
    refused token or an unreachable forge raises (Invalid ``forge_refused`` / Conflict ``forge_unreachable``)
    and nothing is saved. A token given replaces the stored one; omitted, the stored one is kept."""
    api_url = data.api_url.strip().rstrip("/")
    problem = url_problem(api_url)
    if problem:
        raise Invalid(f"The API URL: {problem}.", details=[{"field": "api_url", "message": problem}])
    repository = _check_repository(data.kind, data.repository)
    config = get_config(session=session)
    token = (data.token or "").strip()
    if not token and config is not None:
        token = _token(secret_key, config)
    if not token:
        raise Invalid("Give the forge's API token (it may open pull requests and comment on them).",
                      details=[{"field": "token", "message": "required"}])
    try:
        forge_for(data.kind, api_url=api_url, repository=repository, token=token).check()
    except ForgeError as exc:
        raise _refused(exc) from exc
    before = forge_state(session=session)
    if config is None:
        config = ForgeConfig(id=1)
        session.add(config)
    config.kind = data.kind.value
    config.api_url = api_url
    config.repository = repository
    config.token_sealed = seal(secret_key, TOKEN_PURPOSE, token)
    audit_service.record(session=session, actor=actor, action="pulls.forge_set", object_type="forge", object_id=1,
                         summary=f"pull requests on {data.kind.value} {repository}", before=before,
                         after=forge_state(session=session))
    session.commit()
    return config


def delete_forge(*, session: Session, actor: User) -> None:
    config = require_config(session=session)
    audit_service.record(session=session, actor=actor, action="pulls.forge_delete", object_type="forge",
                         object_id=1, summary="pull requests switched off", before=forge_state(session=session))
    session.delete(config)
    session.commit()


def _forge(session: Session, secret_key: str) -> Forge:
    config = require_config(session=session)
    return forge_for(config.kind, api_url=config.api_url, repository=config.repository,
                     token=_token(secret_key, config))


# -- a work item's pull request -----------------------------------------------------------------------

def get_pull_request(*, session: Session, item_id: int) -> PullRequest | None:
    return session.scalars(select(PullRequest).where(PullRequest.work_item_id == item_id)).first()


def pull_body(*, item: WorkItem, workspace: work_service.Workspace) -> str:
    """The pull request's description: the work item's notes, checklist and changelog entries."""
    entries = work_service.branch_changelog_entries(workspace=workspace, item=item)
    lines = [f"Work item #{item.id} in Calcifer: {item.title}", ""]
    if item.description.strip():
        lines += [item.description.strip(), ""]
    lines += ["## Notes", "", item.notes.strip() or "_No notes yet: the work item completes only once they "
              "are written._", "", "## Checklist", ""]
    lines += [f"- [{'x' if c.done else ' '}] {c.text}" for c in item.checklist] or ["_No checklist._"]
    lines += ["", "## Changelog", ""]
    lines += [f"- {e.type.value if e.type else e.heading}: {e.text}" for e in entries] or [
        "_No CHANGES.md entry on the branch yet._"]
    lines += ["", "---", f"Opened by Calcifer from branch `{item.branch}`. Merge it here: Calcifer's next fetch "
              "completes the work item (its notes, checklist and changelog rules still apply)."]
    body = "\n".join(lines)
    return body if len(body) <= MAX_BODY_CHARS else body[:MAX_BODY_CHARS] + "\n\n…"


def open_pull_request(*, session: Session, actor: User, item_id: int, workspace: work_service.Workspace,
                      secret_key: str) -> PullRequest:
    """Push the work item's branch to the remote and open its pull request on the forge. When it already
    has an open one, the branch is pushed again (the pull request follows it) and that one is returned.

    The forge is asked first, then the branch pushed, then the pull request opened: a forge that refuses
    or cannot be reached, or a remote that refuses the push, raises (Invalid ``forge_refused``, Conflict
    ``forge_unreachable`` / ``remote_failed``) and nothing is recorded."""
    item = work_service.get_work_item(session=session, item_id=item_id)
    if item.status not in OPEN_STATUSES:
        raise Conflict(f"Work item #{item.id} is {item.status}: only an open work item gets a pull request.",
                       code="not_open", problems=[Problem("not_open", f"The work item is {item.status}.")])
    existing = get_pull_request(session=session, item_id=item.id)
    if existing is not None and existing.state == PullState.MERGED.value:
        raise Conflict(f"Pull request {existing.number} was merged on the forge: the next fetch completes work item "
                       f"#{item.id} once its rules are met.", code="already_merged",
                       problems=[Problem("already_merged", "Merged on the forge already.")])
    status = work_service.branch_status(workspace=workspace, item=item)
    if status is None or status.merged or status.ahead == 0:
        raise Conflict(f"Work item #{item.id}'s branch has no commits main lacks: commit a change first.",
                       code="no_commits", problems=[Problem("no_commits", "The branch has no commits to propose.")])
    remote = remote_service.require_config(session=session)
    forge = _forge(session, secret_key)
    try:
        if existing is None or existing.state != PullState.OPEN.value:
            forge.check()
        tip = git.push_remote_branch(repo_path=workspace.repo_path, url=remote.url,
                                     auth=remote_service.auth_of(remote, secret_key), branch=item.branch)
    except ForgeError as exc:
        raise _refused(exc) from exc
    except git.RemoteError as exc:
        raise Conflict(f"The branch could not be pushed: {exc.message}", code="remote_failed",
                       problems=[Problem("remote_failed", exc.message)]) from exc
    if existing is not None and existing.state == PullState.OPEN.value:
        existing.head_commit = tip
        session.commit()
        return existing
    try:
        info = forge.open_pull(head=item.branch, base=BASE_BRANCH, title=f"{item.title} (work item #{item.id})",
                               body=pull_body(item=item, workspace=workspace))
    except ForgeError as exc:
        raise _refused(exc) from exc
    kind = require_config(session=session).kind
    row = existing or PullRequest(work_item_id=item.id)
    row.kind = kind
    row.number, row.url, row.state = info.number, info.url, info.state.value
    row.branch, row.head_commit, row.merge_commit = item.branch, tip, info.merge_commit
    row.opened_by_id, row.opened_at, row.checked_at = actor.id, utcnow(), utcnow()
    row.last_error, row.comment_key, row.settled = "", "", False
    if existing is None:
        session.add(row)
    audit_service.record(session=session, actor=actor, action="pulls.open", object_type="work_item",
                         object_id=item.id, summary=f"#{item.id}: pull request {info.number} opened",
                         after={"number": info.number, "url": info.url, "branch": item.branch, "head": tip})
    session.commit()
    return row


def _apply(row: PullRequest, info: PullInfo) -> None:
    row.state = info.state.value
    if info.url:
        row.url = info.url
    row.merge_commit = info.merge_commit or row.merge_commit
    row.checked_at = utcnow()
    row.last_error = ""


def refresh(*, session: Session, secret_key: str, row: PullRequest) -> PullRequest:
    """Ask the forge for the pull request's state (while it is open); a failure is kept in ``last_error``,
    never raised."""
    if row.state != PullState.OPEN.value or get_config(session=session) is None:
        return row
    try:
        _apply(row, _forge(session, secret_key).get_pull(number=row.number))
    except ForgeError as exc:
        row.last_error = exc.message[:4000]
    session.commit()
    return row


def pull_request_for(*, session: Session, secret_key: str, item_id: int) -> PullRequest:
    """The work item's pull request, its state fresh from the forge. Raises NotFound without one."""
    work_service.get_work_item(session=session, item_id=item_id)
    row = get_pull_request(session=session, item_id=item_id)
    if row is None:
        raise NotFound(f"Work item #{item_id} has no pull request.", code="no_pull_request")
    return refresh(session=session, secret_key=secret_key, row=row)


def public(row: PullRequest) -> dict[str, Any]:
    return {"work_item_id": row.work_item_id, "number": row.number, "url": row.url, "state": row.state,
            "branch": row.branch, "head_commit": row.head_commit, "merge_commit": row.merge_commit or None,
            "opened_at": row.opened_at, "checked_at": row.checked_at, "last_error": row.last_error or None}


# -- at each fetch (the remote slice's hooks) -----------------------------------------------------------

def own_commits(*, session: Session, repo_path: Path, secret_key: str, commits: list[git.CommitInfo]) -> set[str]:
    """The commits a fetch brings that pull requests Calcifer opened made on the forge: the work item
    documents them, so they are no outside change. A merge commit whose parent is a pushed head is one;
    so are the commits the forge's merge, squash or rebase made, once the forge says the pull request is
    merged (its state is asked here, while the fetch's commits are sorted) and main's tree holds the
    branch's changes (``gitrepo.landed_commits``)."""
    rows = list(session.scalars(select(PullRequest).where(PullRequest.state != PullState.CLOSED.value,
                                                          PullRequest.settled.is_(False))))
    if not rows or not commits:
        return set()
    new = {c.id for c in commits}
    heads = {row.head_commit for row in rows if row.head_commit}
    own = {c.id for c in commits if any(p in heads for p in c.parents[1:])}
    for row in rows:
        if row.state == PullState.OPEN.value:
            refresh(session=session, secret_key=secret_key, row=row)
        if row.state != PullState.MERGED.value or not row.merge_commit or not row.head_commit:
            continue
        if row.merge_commit not in new:
            continue
        landed = git.landed_commits(repo_path=repo_path, head=row.head_commit, landed=row.merge_commit,
                                    among=new, file_mergers=work_service.file_mergers())
        own |= (landed or set()) & new
    return own


def _problems_comment(item: WorkItem, problems: list[Problem]) -> str:
    lines = [f"Calcifer cannot complete work item #{item.id} yet, although this pull request is merged: "
             f"{len(problems)} rule(s) unmet.", ""]
    lines += [f"- {p.path + ': ' if p.path else ''}{p.message}" for p in problems]
    lines += ["", "Fix them on the work item in Calcifer; the next fetch completes it."]
    return "\n".join(lines)


def _problems_key(problems: list[Problem]) -> str:
    text = "\n".join(sorted(f"{p.code}\t{p.path or ''}\t{p.message}" for p in problems))
    return hashlib.sha256(text.encode()).hexdigest()


def complete_merged(*, session: Session, workspace: work_service.Workspace, secret_key: str) -> None:
    """After a fetch: each open pull request's state is asked of the forge; a work item whose branch main
    now holds is merged-and-completed (its rules apply; as the person who opened the pull request). When
    rules are unmet, they are posted to the pull request as a comment, once per distinct set."""
    rows = list(session.scalars(select(PullRequest).where(PullRequest.state != PullState.CLOSED.value,
                                                          PullRequest.settled.is_(False))))
    for row in rows:
        refresh(session=session, secret_key=secret_key, row=row)
        item = work_service.get_work_item(session=session, item_id=row.work_item_id)
        if item.status not in OPEN_STATUSES:  # completed here, or cancelled: nothing more to do for it
            row.settled = True
            if item.status == WorkStatus.COMPLETE.value:
                row.state = PullState.MERGED.value
            session.commit()
            continue
        status = work_service.branch_status(workspace=workspace, item=item)
        if status is None:
            continue
        if not status.merged and not _adopt_landed(session, workspace, row, item):
            continue
        _complete(session, workspace, secret_key, row, item)


def _adopt_landed(session: Session, workspace: work_service.Workspace, row: PullRequest, item: WorkItem) -> bool:
    """A squash or rebase merge on the forge: main holds the branch's changes as other commits. When the
    forge says merged, its commit is on main and main's tree holds the branch's changes, the work item's
    branch (and worktree) moves to that commit, so the branch is merged as after a true merge. True when
    it did; a worktree with uncommitted changes is left alone (they would be lost), with a message."""
    if row.state != PullState.MERGED.value or not row.merge_commit or not row.head_commit:
        return False
    if not git.on_main(repo_path=workspace.repo_path, commit=row.merge_commit):
        return False
    landed = git.landed_commits(repo_path=workspace.repo_path, head=row.head_commit, landed=row.merge_commit,
                                among=frozenset(), file_mergers=work_service.file_mergers())
    if landed is None:
        row.last_error = (f"The forge merged pull request {row.number} as {row.merge_commit[:10]}, but main's "
                          "files there lack the branch's changes: merge and complete the work item here.")
        session.commit()
        return False
    worktree = work_service.worktree_of(item)
    _unresolved, changed = git.worktree_state(worktree_path=worktree)
    if changed:
        row.last_error = (f"The forge merged pull request {row.number}, but the worktree has uncommitted "
                          "changes: commit or discard them, and the next fetch completes the work item.")
        session.commit()
        return False
    git.point_worktree_at(worktree_path=worktree, commit=row.merge_commit)
    return True


def _complete(session: Session, workspace: work_service.Workspace, secret_key: str, row: PullRequest,
              item: WorkItem) -> None:
    try:
        actor = auth_service.get_user(session=session, user_id=row.opened_by_id or 0)
    except NotFound:
        row.last_error = "The person who opened the pull request is gone: merge and complete the work item here."
        session.commit()
        return
    try:
        work_service.merge_and_complete(session=session, actor=actor, item_id=item.id, workspace=workspace)
    except Conflict as exc:
        session.rollback()
        if exc.code != MERGE_REFUSED:  # completed or being completed by a concurrent fetch: not a rule unmet
            return
        problems = exc.problems or [Problem(exc.code, exc.message)]
        key = _problems_key(problems)
        if key == row.comment_key:
            return
        try:
            _forge(session, secret_key).comment(number=row.number, body=_problems_comment(item, problems))
        except ForgeError as error:
            row.last_error = error.message[:4000]
        else:
            row.comment_key = key
            audit_service.record(session=session, actor=None, action="pulls.problems_posted",
                                 object_type="work_item", object_id=item.id,
                                 summary=f"#{item.id}: {len(problems)} unmet rule(s) posted to pull request "
                                 f"{row.number}", after={"problems": [p.as_dict() for p in problems]})
        session.commit()
        return
    row.state = PullState.MERGED.value
    row.settled = True
    session.commit()

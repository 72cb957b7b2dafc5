"""Remote sync: the remote's settings, pushing main, fetching and integrating outside commits, and
adopting them into work items. Git work goes through ``calcifer.gitrepo`` only.

Pushes are requested (after every merge: ``push_after_merge`` only sets a flag) and done by the
background service (``sync.start``) or on demand; a failure is recorded with the remote's message and
retried with backoff, and never blocks a merge. A fetch brings the remote's main; commits main lacks are
integrated (fast-forward, or a merge with CHANGES.md merged by entries) only when nothing hostile is in
them, no file conflicts and the result passes the merge check's validation (``INTEGRATION_RULES``);
otherwise main stays where it was and the reason is recorded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from calcifer import gitrepo as git
from calcifer.audit import service as audit_service
from calcifer.auth.models import User
from calcifer.changelog.choices import ChangeType
from calcifer.db import utcnow
from calcifer.errors import Conflict, Invalid, NotFound, Problem
from calcifer.events import MainMoved
from calcifer.listing import id_cursor, next_id_cursor
from calcifer.remote.choices import AuthKind, FetchOutcome, PushScope
from calcifer.remote.models import OutsideChange, RemoteConfig
from calcifer.remote.schemas import RemoteUpdate
from calcifer.sealed import SealError, seal, unseal
from calcifer.work import service as work_service
from calcifer.work.schemas import WorkItemCreate

log = logging.getLogger("calcifer.remote")

SECRET_PURPOSE = "remote-credentials"
WEBHOOK_PURPOSE = "remote-webhook-secret"
CALCIFER_AUTHOR = git.Author(name="Calcifer", email="calcifer@calcifer.invalid")
# Backoff of failed pushes: 15 s, 30 s, 1 min ... at most 30 min.
PUSH_RETRY_FIRST = dt.timedelta(seconds=15)
PUSH_RETRY_MAX = dt.timedelta(minutes=30)
MAX_INTEGRATION_ATTEMPTS = 3
# The most files (in conflict, or refused) the state lists for the last fetch.
MAX_FETCH_FILES = 200


class IntegrationRule(Protocol):
    """Validation main must pass before outside commits are integrated (the merge check's, for a
    commit instead of a work item): returns the problems of moving main from ``base`` to ``tip``."""

    def __call__(self, *, session: Session, repo_path: Path, base: str, tip: str) -> list[Problem]: ...


class OwnCommits(Protocol):
    """Which of the commits a fetch brings Calcifer made happen itself (e.g. the forge's merge commit of a
    work item's pull request): those are not recorded as outside changes. Returns their ids."""

    def __call__(self, *, session: Session, repo_path: Path, secret_key: str,
                 commits: list[git.CommitInfo]) -> set[str]: ...


class AfterFetch(Protocol):
    """Called after every fetch that reached the remote's main (main moved or not), outside the sync lock:
    e.g. completing the work items whose pull requests the forge merged. Errors are logged, never raised."""

    def __call__(self, *, session: Session, workspace: work_service.Workspace, secret_key: str) -> None: ...


# Filled by ``calcifer.wiring`` (empty until it runs).
INTEGRATION_RULES: list[IntegrationRule] = []
OWN_COMMITS: list[OwnCommits] = []
AFTER_FETCH: list[AfterFetch] = []

# Set when a push is wanted (after a merge); the background service waits on it.
push_wanted = threading.Event()
# One fetch-and-integrate at a time in this process (the merge lock guards main across processes).
_sync_lock = threading.Lock()


# -- settings -----------------------------------------------------------------------------------------

def get_config(*, session: Session) -> RemoteConfig | None:
    return session.get(RemoteConfig, 1)


def require_config(*, session: Session) -> RemoteConfig:
    config = get_config(session=session)
    if config is None:
        raise NotFound("No remote is set: connect one under Settings → Repository.", code="no_remote")
    return config


def _sealed(secret_key: str, purpose: str, value: str) -> str:
    return seal(secret_key, purpose, value) if value else ""


def _opened(secret_key: str, purpose: str, value: str) -> str:
    if not value:
        return ""
    try:
        return unseal(secret_key, purpose, value)
    except SealError:
        log.warning("the stored %s cannot be opened with this instance's key", purpose)
        return ""


def set_remote(*, session: Session, actor: User, secret_key: str, data: RemoteUpdate) -> RemoteConfig:
    """Connect the repository to ``data.url`` (or change how). A token given replaces the stored one;
    omitted, the stored one stays. Choosing SSH generates an ed25519 key (once, or when asked anew)."""
    url = git.check_remote_url(data.url)
    if data.auth == AuthKind.TOKEN and url.startswith(("git://", "file://")):
        raise Invalid("A token is for https:// remotes; git:// and file:// take no credentials.",
                      details=[{"field": "auth", "message": "no credentials for this scheme"}])
    config = get_config(session=session)
    before = snapshot(config) if config is not None else None
    if config is None:
        config = RemoteConfig(id=1, url=url)
        session.add(config)
    if config.url != url:
        config.last_push_error = ""
        config.push_failures = 0
        config.next_push_at = None
        config.ssh_host_key = ""  # another server, maybe: its key is read anew
    config.url = url
    if config.auth_kind != data.auth.value:
        config.secret_sealed = ""
        config.public_key = ""
    config.auth_kind = data.auth.value
    config.username = data.username.strip()
    config.push_scope = data.push_scope.value
    if data.auth == AuthKind.TOKEN:
        if data.token is not None and data.token.strip():
            config.secret_sealed = _sealed(secret_key, SECRET_PURPOSE, data.token.strip())
        if not config.secret_sealed:
            raise Invalid("Give the HTTPS token (or password) the remote accepts.",
                          details=[{"field": "token", "message": "required"}])
    elif data.auth == AuthKind.SSH:
        if data.new_ssh_key or not config.secret_sealed or not config.public_key:
            private, public = git.generate_ssh_key("calcifer")
            config.secret_sealed = _sealed(secret_key, SECRET_PURPOSE, private)
            config.public_key = public
    else:
        config.secret_sealed = ""
        config.public_key = ""
    if data.webhook_secret is not None:
        config.webhook_secret_sealed = _sealed(secret_key, WEBHOOK_PURPOSE, data.webhook_secret.strip())
    if data.ssh_host_key is not None:
        config.ssh_host_key = git.normalize_host_key(data.ssh_host_key) if data.ssh_host_key.strip() else ""
    if not git.is_ssh_url(url):
        config.ssh_host_key = ""
    elif not config.ssh_host_key:
        _learn_host_key(config)
    audit_service.record(session=session, actor=actor, action="remote.set", object_type="remote", object_id=1,
                         summary=f"remote set to {git.public_url(url)}", before=before, after=snapshot(config))
    session.commit()
    push_wanted.set()
    return config


def keep_adopted_remote(*, session: Session, source: str) -> str | None:
    """After ``calcifer init --from URL``: keep that URL as the remote (no credentials; an admin adds
    them under Settings → Repository). A plain local path is not kept. Returns the URL kept, or None."""
    if get_config(session=session) is not None or "://" not in source and "@" not in source:
        return None
    try:
        url = git.check_remote_url(source)
    except Invalid:
        return None
    session.add(RemoteConfig(id=1, url=url))
    audit_service.record(session=session, actor=None, action="remote.set", object_type="remote", object_id=1,
                         summary=f"remote kept from calcifer init --from {git.public_url(url)}")
    session.commit()
    return url


def delete_remote(*, session: Session, actor: User) -> None:
    config = require_config(session=session)
    audit_service.record(session=session, actor=actor, action="remote.delete", object_type="remote", object_id=1,
                         summary=f"remote {git.public_url(config.url)} disconnected", before=snapshot(config))
    session.delete(config)
    session.commit()


def snapshot(config: RemoteConfig) -> dict[str, object]:
    """What the audit log keeps of the settings (never a secret)."""
    return {"url": git.public_url(config.url), "auth": config.auth_kind, "username": config.username,
            "push_scope": config.push_scope, "public_key": config.public_key or None,
            "ssh_host_key": git.ssh_fingerprint(config.ssh_host_key) if config.ssh_host_key else None}


def _learn_host_key(config: RemoteConfig) -> None:
    """Trust the host key the SSH server shows now (trust on first use, as ``ssh`` does; the fingerprint
    is on the settings page to compare). Left unknown when the server cannot be reached."""
    try:
        config.ssh_host_key = git.server_host_key(config.url)
    except OSError as exc:
        log.warning("the SSH host key of %s is not known yet: %s", git.public_url(config.url), exc)
        return
    log.info("trusting the SSH host key %s of %s", git.ssh_fingerprint(config.ssh_host_key),
             git.public_url(config.url))


def auth_of(config: RemoteConfig, secret_key: str) -> git.RemoteAuth:
    """How to connect to the remote. An SSH remote whose host key is not known yet (the server was not
    reachable when the settings were saved) trusts the key it shows now; the caller's commit keeps it."""
    if git.is_ssh_url(config.url) and not config.ssh_host_key:
        _learn_host_key(config)
    return git.RemoteAuth(kind=config.auth_kind, username=config.username,
                          secret=_opened(secret_key, SECRET_PURPOSE, config.secret_sealed),
                          public_key=config.public_key, host_key=config.ssh_host_key)


def state(*, session: Session, repo_path: Path) -> dict[str, Any] | None:
    """The remote's settings and sync state as the API and the settings page show them (no secret)."""
    config = get_config(session=session)
    if config is None:
        return None
    try:
        unpushed = git.unpushed_count(repo_path=repo_path)
    except (NotFound, git.GitError):
        unpushed = None
    return {
        "url": config.url, "auth": config.auth_kind, "username": config.username,
        "has_token": config.auth_kind == AuthKind.TOKEN.value and bool(config.secret_sealed),
        "public_key": config.public_key or None, "push_scope": config.push_scope,
        "ssh_host_key": config.ssh_host_key or None,
        "ssh_host_key_fingerprint": git.ssh_fingerprint(config.ssh_host_key) if config.ssh_host_key else None,
        "has_webhook_secret": bool(config.webhook_secret_sealed),
        "last_push_at": config.last_push_at, "last_push_commit": config.last_push_commit or None,
        "last_push_error": config.last_push_error or None, "next_push_at": config.next_push_at,
        "unpushed_commits": unpushed, "last_fetch_at": config.last_fetch_at,
        "last_fetch_outcome": config.last_fetch_outcome or None,
        "last_fetch_error": config.last_fetch_error or None,
        "last_fetch_files": [line for line in config.last_fetch_files.splitlines() if line][:MAX_FETCH_FILES],
    }


# -- push ---------------------------------------------------------------------------------------------

def push_after_merge(*, session: Session, repo_path: Path, change: MainMoved) -> None:
    """After-merge step: ask the background service to push. Only a flag: never slows the merge."""
    push_wanted.set()


def _work_branches(session: Session) -> list[str]:
    return [item.branch for item in work_service.open_work_items(session=session, limit=500) if item.branch]


def push_now(*, session: Session, repo_path: Path, secret_key: str) -> tuple[str | None, str | None]:
    """Push main (and the open work items' branches when so configured) now; record the outcome.
    Returns (main as pushed, None) or (None, the remote's message). Raises NotFound without a remote."""
    config = require_config(session=session)
    branches = _work_branches(session) if config.push_scope == PushScope.MAIN_AND_WORK.value else []
    now = utcnow()
    try:
        pushed = git.push_remote(repo_path=repo_path, url=config.url, auth=auth_of(config, secret_key),
                                 branches=branches)
    except git.RemoteError as exc:
        config.push_failures += 1
        delay = min(PUSH_RETRY_FIRST * 2 ** (config.push_failures - 1), PUSH_RETRY_MAX)
        config.last_push_error = exc.message[:4000]
        config.next_push_at = now + delay
        session.commit()
        log.warning("push to %s failed: %s", git.public_url(config.url), exc.message)
        return None, exc.message
    config.last_push_at = now
    config.last_push_commit = pushed
    config.last_push_error = ""
    config.push_failures = 0
    config.next_push_at = None
    session.commit()
    return pushed, None


def push_due(*, session: Session, repo_path: Path, wanted: bool, now: dt.datetime | None = None) -> bool:
    """True when the background service should push now: ``wanted`` (a merge asked), or main has
    unpushed commits — and not while a failed push waits out its backoff."""
    config = get_config(session=session)
    if config is None:
        return False
    now = now or utcnow()
    if config.next_push_at is not None and now < config.next_push_at:
        return False
    if wanted or config.next_push_at is not None:
        return True
    try:
        unpushed = git.unpushed_count(repo_path=repo_path)
    except (NotFound, git.GitError):
        return False
    return unpushed is None or unpushed > 0


# -- fetch and integrate ------------------------------------------------------------------------------

@dataclass
class FetchReport:
    outcome: FetchOutcome
    message: str
    main: str
    outside_changes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _record_fetch(session: Session, config: RemoteConfig, report: FetchReport) -> FetchReport:
    config.last_fetch_at = utcnow()
    config.last_fetch_outcome = report.outcome.value
    failed = report.outcome in (FetchOutcome.CONFLICT, FetchOutcome.HOSTILE, FetchOutcome.INVALID,
                                FetchOutcome.FAILED)
    config.last_fetch_error = report.message[:4000] if failed else ""
    config.last_fetch_files = "\n".join(report.files)[:20_000]
    session.commit()
    return report


def _validation_problems(session: Session, repo_path: Path, base: str, tip: str) -> list[Problem]:
    problems: list[Problem] = []
    for rule in INTEGRATION_RULES:
        problems.extend(p for p in rule(session=session, repo_path=repo_path, base=base, tip=tip) if p.refuses)
    return problems


def fetch_now(*, session: Session, repo_path: Path, secret_key: str,
              worktrees_dir: Path | None = None) -> FetchReport:
    """Fetch the remote's main and integrate what it has that main lacks; record and return the outcome.
    Main moves only on ``fast_forward``/``merged``; then the after-merge steps run (re-index, push).
    With ``worktrees_dir`` (the work items' workspace), the ``AFTER_FETCH`` hooks run once the remote's
    main was read (e.g. work items whose pull requests the forge merged are completed)."""
    config = require_config(session=session)
    with _sync_lock:
        report = _fetch_locked(session, config, repo_path, secret_key)
    if worktrees_dir is not None and report.outcome in REACHED_MAIN:
        workspace = work_service.Workspace(repo_path=repo_path, worktrees_dir=worktrees_dir)
        for hook in AFTER_FETCH:
            try:
                hook(session=session, workspace=workspace, secret_key=secret_key)
            except Exception:  # noqa: BLE001 - a hook's failure never turns a good fetch into an error
                session.rollback()
                log.exception("after-fetch step %s failed", getattr(hook, "__name__", hook))
    return report


# Outcomes after which the remote's main is known and main holds all of it.
REACHED_MAIN = (FetchOutcome.UP_TO_DATE, FetchOutcome.FAST_FORWARD, FetchOutcome.MERGED)


def _fetch_locked(session: Session, config: RemoteConfig, repo_path: Path, secret_key: str) -> FetchReport:
    main_before = git.main_head(repo_path=repo_path)
    try:
        fetched = git.fetch_remote(repo_path=repo_path, url=config.url, auth=auth_of(config, secret_key))
    except git.RemoteError as exc:
        return _record_fetch(session, config, FetchReport(FetchOutcome.FAILED, exc.message, main_before))
    refused = [f"ref {name}: a name that is not a safe ref; not fetched" for name in fetched.refused_refs]
    if fetched.main is None:
        return _record_fetch(session, config, FetchReport(
            FetchOutcome.NO_MAIN, "The remote has no main yet; the next push creates it.", main_before,
            files=refused))
    message = f"Merge outside changes from {git.public_url(config.url)}\n"
    for _attempt in range(MAX_INTEGRATION_ATTEMPTS):
        plan = git.prepare_integration(repo_path=repo_path, remote=fetched.main, author=CALCIFER_AUTHOR,
                                       message=message, file_mergers=work_service.file_mergers())
        if plan.kind == "up_to_date":
            return _record_fetch(session, config, FetchReport(
                FetchOutcome.UP_TO_DATE, "main already has every commit of the remote's main.", plan.before,
                files=refused))
        if plan.kind == "hostile":
            return _record_fetch(session, config, FetchReport(
                FetchOutcome.HOSTILE, "The remote's main was refused, main is untouched: "
                + "; ".join(plan.problems[:20]), plan.before, files=plan.problems + refused))
        if plan.kind == "conflict":
            return _record_fetch(session, config, FetchReport(
                FetchOutcome.CONFLICT, f"The remote's main and main both changed {len(plan.conflicts)} file(s); "
                "main is untouched. Resolve it on the remote (merge main there) and fetch again: "
                + ", ".join(plan.conflicts), plan.before, files=plan.conflicts))
        assert plan.commit is not None
        problems = _validation_problems(session, repo_path, plan.before, plan.commit)
        if problems:
            return _record_fetch(session, config, FetchReport(
                FetchOutcome.INVALID, "The remote's main would make main invalid, main is untouched: "
                + "; ".join(p.message for p in problems[:20]), plan.before,
                files=sorted({p.path for p in problems if p.path}), problems=problems))
        reason = ("fast-forward to the remote's main" if plan.kind == "fast_forward"
                  else "merge the remote's main")
        if git.advance_main(repo_path=repo_path, expected=plan.before, new=plan.commit, reason=reason):
            break
    else:
        return _record_fetch(session, config, FetchReport(
            FetchOutcome.FAILED, "main kept changing while integrating; the next fetch tries again.",
            git.main_head(repo_path=repo_path)))
    own: set[str] = set()
    for hook in OWN_COMMITS:
        own |= hook(session=session, repo_path=repo_path, secret_key=secret_key, commits=plan.outside)
    recorded = _record_outside(session, [c for c in plan.outside if c.id not in own], plan.commit)
    outcome = FetchOutcome.FAST_FORWARD if plan.kind == "fast_forward" else FetchOutcome.MERGED
    report = _record_fetch(session, config, FetchReport(
        outcome, f"{len(plan.outside)} outside commit(s) integrated "
        + ("by fast-forward." if plan.kind == "fast_forward" else "by a merge."), plan.commit,
        outside_changes=recorded, files=refused))
    audit_service.record(session=session, actor=None, action="remote.integrate", object_type="repository",
                         object_id="main", summary=report.message,
                         after={"main": plan.commit, "outside": recorded})
    session.commit()
    work_service.notify_main_changed(session=session, repo_path=repo_path, before=plan.before)
    return report


def _record_outside(session: Session, commits: list[git.CommitInfo], main_commit: str) -> list[str]:
    known: set[str] = set()
    for start in range(0, len(commits), 500):
        known.update(session.scalars(select(OutsideChange.sha).where(
            OutsideChange.sha.in_([c.id for c in commits[start:start + 500]]))))
    now = utcnow()
    fresh = [info for info in commits if info.id not in known]
    rows: list[dict[str, object]] = [
        {"sha": info.id, "summary": info.summary[:500], "author_name": info.author_name[:200],
         "author_email": info.author_email[:320], "committed_at": info.time, "found_at": now,
         "main_commit": main_commit} for info in fresh]
    if rows:  # one executemany, not an ORM object per commit
        session.execute(insert(OutsideChange), rows)
    session.commit()
    return [info.id for info in fresh]


# -- webhook ------------------------------------------------------------------------------------------

def verify_webhook(*, session: Session, secret_key: str, body: bytes, headers: dict[str, str]) -> bool:
    """True when the body carries a valid signature of the shared secret: ``X-Hub-Signature-256:
    sha256=<hex>`` (GitHub, Gitea, Forgejo) or ``X-Gitea-Signature: <hex>``. False without a remote or
    a secret."""
    config = get_config(session=session)
    if config is None:
        return False
    secret = _opened(secret_key, WEBHOOK_PURPOSE, config.webhook_secret_sealed)
    if not secret:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    given = headers.get("x-hub-signature-256", "")
    if given.startswith("sha256="):
        return hmac.compare_digest(given[len("sha256="):].strip().lower(), expected)
    gitea = headers.get("x-gitea-signature", "")
    return bool(gitea) and hmac.compare_digest(gitea.strip().lower(), expected)


# -- outside changes ----------------------------------------------------------------------------------

def list_outside_changes(*, session: Session, limit: int, cursor: str | None,
                         pending_only: bool = False) -> tuple[list[OutsideChange], str | None]:
    """Newest first, paged by id."""
    query = select(OutsideChange).order_by(OutsideChange.id.desc())
    after = id_cursor(cursor)
    if after is not None:
        query = query.where(OutsideChange.id < after)
    if pending_only:
        query = query.where(OutsideChange.work_item_id.is_(None))
    rows = list(session.scalars(query.limit(limit + 1)))
    page = rows[:limit]
    return page, next_id_cursor([row.id for row in rows], limit)


def get_outside_change(*, session: Session, sha: str) -> OutsideChange:
    if not isinstance(sha, str) or not (4 <= len(sha) <= 64) or any(c not in "0123456789abcdefABCDEF" for c in sha):
        raise NotFound(f"No outside change {sha!r}")
    rows = list(session.scalars(select(OutsideChange).where(OutsideChange.sha.startswith(sha.lower())).limit(2)))
    if len(rows) != 1:
        raise NotFound(f"No outside change {sha!r}" if not rows else f"{sha!r} names more than one commit")
    return rows[0]


def adopt(*, session: Session, actor: User, sha: str, workspace: work_service.Workspace, categories: list[str],
          entry_text: str | None = None, notes: str | None = None) -> int:
    """Adopt an outside change into a work item: a standard work item whose branch adds the changelog
    entry for it, whose notes document it, merged and completed at once. Returns its id. Raises
    Conflict when the change was adopted already."""
    change = get_outside_change(session=session, sha=sha)
    if change.work_item_id is not None:
        raise Conflict(f"{change.sha[:10]} was adopted already, into work item #{change.work_item_id}.",
                       code="already_adopted")
    short = change.sha[:10]
    text = (entry_text or "").strip() or f"{change.summary} (outside change {short})"
    body = (notes or "").strip() or (
        f"Adopts the outside change {change.sha}, made outside Calcifer by {change.author_name} "
        f"<{change.author_email}> on {change.committed_at:%Y-%m-%d %H:%M} UTC and integrated into main as "
        f"{change.main_commit[:10]}: {change.summary}")
    title = f"Adopt outside change {short}: {change.summary}"[:200]
    data = WorkItemCreate(title=title, category="standard", action="change",  # type: ignore[arg-type]
                          description=f"Outside change {change.sha}.")
    sha_full, summary = change.sha, change.summary

    def write_entry(item: Any) -> str:
        return work_service.commit(session=session, actor=actor, item_id=item.id, workspace=workspace,
                                   message=f"Changelog entry for outside change {short}\n\n{summary}\n\n"
                                   f"Outside-Change: {sha_full}", files=None,
                                   entry_type=ChangeType.CHANGED, entry_text=text)

    item, _commit = work_service.run_standard_change(
        session=session, actor=actor, workspace=workspace, categories=categories, data=data,
        change=write_entry, notes=lambda _c: body)
    change = get_outside_change(session=session, sha=sha_full)
    change.work_item_id = item.id
    change.adopted_at = utcnow()
    audit_service.record(session=session, actor=actor, action="remote.adopt", object_type="outside_change",
                         object_id=sha_full, summary=f"adopted {short} into work item #{item.id}",
                         after={"work_item": item.id})
    session.commit()
    return int(item.id)


# -- a branch someone pushed becomes a work item's -------------------------------------------------------

def work_item_from_branch(*, session: Session, actor: User, secret_key: str, workspace: work_service.Workspace,
                          categories: list[str], data: WorkItemCreate, branch: str) -> int:
    """Create a work item whose branch is the remote's ``branch`` (pushed from a laptop, say): the work
    item is created as usual, then its new branch moved to the fetched tip. The branch must have commits
    main lacks and nothing hostile; everything else (changelog entry, notes, checklist, the merge check)
    applies as to any work item. Returns the work item's id."""
    config = require_config(session=session)
    try:
        tip = git.fetch_remote_branch(repo_path=workspace.repo_path, url=config.url,
                                      auth=auth_of(config, secret_key), branch=branch)
    except git.RemoteError as exc:
        raise Conflict(f"Could not fetch {branch}: {exc.message}", code="remote_failed") from exc
    problems = git.branch_problems(repo_path=workspace.repo_path, commit=tip)
    if problems:
        raise Conflict(f"The remote's {branch} cannot become a work item's branch: " + "; ".join(problems[:20]),
                       code="remote_branch_refused",
                       problems=[Problem("remote_branch_refused", line) for line in problems])
    item = work_service.create_work_item(session=session, actor=actor, data=data, workspace=workspace,
                                         categories=categories)
    try:
        git.point_worktree_at(worktree_path=work_service.worktree_of(item), commit=tip)
    except Exception:
        work_service.cancel(session=session, actor=actor, item_id=item.id, workspace=workspace, confirm=True)
        raise
    audit_service.record(session=session, actor=actor, action="remote.branch_work_item", object_type="work_item",
                         object_id=item.id, summary=f"#{item.id} took over the remote's branch {branch} "
                         f"at {tip[:10]}", after={"branch": branch, "commit": tip})
    session.commit()
    return int(item.id)

"""Changing the catalog: every edit is a commit on a work item's branch; standard changes do the whole
work item (create, commit, document, merge) in one call. Main's index is refreshed after each merge.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from calcifer import gitrepo as git
from calcifer.auth.models import User
from calcifer.catalog import findings, index, index_parse
from calcifer.catalog.choices import ProblemCode, ServiceStatus, Severity
from calcifer.catalog.schemas import EndpointSpec, ServiceSpec, spec_document, spec_errors
from calcifer.catalog.yamlio import apply_spec, dump_yaml, load_plain
from calcifer.changelog.choices import ChangeType
from calcifer.errors import Conflict, Invalid, NotFound, Problem
from calcifer.events import MainMoved
from calcifer.work import service as work
from calcifer.work.choices import OPEN_STATUSES, STANDARD_CATEGORY, WorkAction
from calcifer.work.models import WorkItem
from calcifer.work.schemas import WorkItemCreate

log = logging.getLogger("calcifer.catalog")



def sync_after_merge(*, session: Session, repo_path: Path, change: MainMoved) -> MainMoved:
    """Re-index the catalog from main after every merge; the rows it rewrote go to the next steps."""
    result = index.sync_from_git(session=session, repo_path=repo_path)
    log.info("catalog synced at %s: %s services, %s endpoints, %s problems (%s ms)", result.commit[:10],
             result.services, result.endpoints, result.problems, result.duration_ms)
    return replace(change, catalog=result.changes)


class AddedHook(Protocol):
    """Called when a service or endpoint (``kind``) is ADDED through a work item, with its validated
    ``spec``; returns more files (path -> text) to write and commit in the same commit (docs adds the
    generated doc). Filled by ``calcifer.wiring``."""

    def __call__(self, *, kind: str, slug: str, spec: BaseModel, item: WorkItem, worktree: Path,
                 repo_path: Path, actor: User) -> dict[str, str]: ...


def catalog_merge_problems(*, session: Session, item: WorkItem, workspace: work.Workspace) -> list[Problem]:
    """The catalog's part of the merge check: the branch's catalog validated as main's index would read it.

    Errors the branch causes (a file that would not load: YAML, schema, unknown fields, duplicate slugs)
    refuse the merge; warnings it causes (unknown hosts, dependencies or services, cycles...) are listed;
    problems already there in files it touches come back as ``on_main``. Each names its file and line.
    """
    if item.status not in OPEN_STATUSES or not item.branch:
        return []
    tip = git.branch_tip(repo_path=workspace.repo_path, branch=item.branch)
    base = git.merge_base(repo_path=workspace.repo_path, branch=item.branch)
    if tip is None or base is None:
        return []
    found = findings.branch_findings(repo_path=workspace.repo_path, base=base, tip=tip)
    return ([_problem(f, on_main=False) for f in found.caused]
            + [_problem(f, on_main=True) for f in found.existing])


@dataclass(frozen=True)
class DocumentProblem:
    """One thing the merge check would say about a document, placed for the editor: ``field`` is a
    dotted path into the document (None: the document as a whole), ``line`` a line of its text."""

    code: str
    message: str
    field: str | None
    severity: str
    line: int | None


# Warnings name no field of their own; this is the field a person fixes them in.
_FIELD_OF: dict[str, str] = {ProblemCode.UNKNOWN_HOST: "host", ProblemCode.UNKNOWN_DEPENDENCY: "depends_on",
             ProblemCode.UNKNOWN_SERVICE: "service", ProblemCode.CYCLE: "depends_on",
             ProblemCode.DUPLICATE_SLUG: "slug", ProblemCode.SLUG_MISMATCH: "slug",
             ProblemCode.DUPLICATE_TARGET: "target"}


def _placed(finding: index_parse.Finding, *, own: bool) -> DocumentProblem:
    field_path = finding.field or _FIELD_OF.get(finding.code)
    message = finding.message
    if finding.field and message.startswith(f"{finding.field}: "):
        message = message[len(finding.field) + 2:]  # said next to the field, the path is noise
    if not own:
        message = f"{finding.file} (line {finding.line}): {message}"
    if not own and finding.code != ProblemCode.DUPLICATE_SLUG:
        field_path = None
    return DocumentProblem(finding.code, message, field_path,
                           finding.severity, finding.line if own else None)


def validate_document(*, repo_path: Path, kind: str, text: str | None = None, spec: dict[str, Any] | None = None,
                      original_slug: str | None = None, new: bool = False) -> list[DocumentProblem]:
    """What the merge check would say if the editor wrote this ``kind`` document (YAML ``text`` or a
    ``spec``) over main: errors (it would not load) and warnings (unknown host, service or dependency,
    cycles...) against main's catalog, errors first. Raises Invalid for a kind other than service or
    endpoint, or when neither or both of ``text`` and ``spec`` are given."""
    if kind not in ("service", "endpoint"):
        raise Invalid("Validate a service or an endpoint.", code="bad_kind")
    if (text is None) == (spec is None):
        raise Invalid('Send the document as "text" (YAML) or as "spec" (a mapping), one of the two.',
                      details=[{"path": "text", "message": "give text or spec"}])
    found = findings.document_findings(repo_path=repo_path, kind=kind,
                                       text=text if text is not None else dump_yaml(spec),
                                       original_slug=original_slug or None, new=new)
    problems = [_placed(f, own=True) for f in found.own] + [_placed(f, own=False) for f in found.elsewhere]
    return sorted(problems, key=lambda p: (p.severity != Severity.ERROR.value, p.line or 0))


def _problem(finding: index_parse.Finding, *, on_main: bool) -> Problem:
    return Problem(f"catalog_{finding.code}", f"{finding.file} (line {finding.line}): {finding.message}",
                   path=finding.file, line=finding.line, blocking=finding.severity == Severity.ERROR.value,
                   on_main=on_main)

ADDED_HOOKS: list[AddedHook] = []


def _added_files(kind: str, slug: str, model: BaseModel, item: WorkItem, workspace: work.Workspace,
                 actor: User) -> dict[str, str]:
    files: dict[str, str] = {}
    for hook in ADDED_HOOKS:
        files.update(hook(kind=kind, slug=slug, spec=model, item=item, worktree=work.worktree_of(item),
                          repo_path=workspace.repo_path, actor=actor))
    return files


@dataclass(frozen=True)
class ChangeResult:
    work_item_id: int
    commit: str
    path: str
    operation: str  # created | updated | deleted
    also_written: list[str] = field(default_factory=list)  # e.g. the generated doc of an added service


def _validate(model: type[BaseModel], spec: dict[str, Any], slug: str, what: str) -> Any:
    if not isinstance(spec, dict):
        raise Invalid(f"The {what} spec must be a mapping of fields.")
    spec = dict(spec)
    spec.setdefault("slug", slug)
    if spec["slug"] != slug:
        raise Invalid(f"The spec's slug {spec['slug']!r} differs from the address's {slug!r}.",
                      details=[{"path": "slug", "message": "must match the URL"}])
    try:
        return model.model_validate(spec)
    except ValidationError as exc:
        errors = spec_errors(exc)
        raise Invalid(f"The {what} spec has {len(errors)} error(s): "
                      + "; ".join(f"{e['path'] or '(root)'}: {e['message']}" for e in errors[:5]),
                      details=errors) from exc


def validate_service(*, slug: str, spec: dict[str, Any]) -> ServiceSpec:
    result: ServiceSpec = _validate(ServiceSpec, spec, slug, "service")
    return result


def validate_endpoint(*, slug: str, spec: dict[str, Any]) -> EndpointSpec:
    result: EndpointSpec = _validate(EndpointSpec, spec, slug, "endpoint")
    return result


def _worktree_text(item: WorkItem, path: str) -> str | None:
    try:
        return git.read_worktree_file(worktree_path=work.worktree_of(item), path=path)
    except NotFound:
        return None


def _plain(text: str | None) -> dict[str, Any] | None:
    if not text or not text.strip():
        return None
    value = load_plain(text)
    return value if isinstance(value, dict) else None


def _commit(session: Session, actor: User, item: WorkItem, workspace: work.Workspace, path: str, text: str | None,
            entry_type: ChangeType, entry_text: str, extra: dict[str, str] | None = None,
            with_entry: bool = True) -> str:
    if text is not None and not extra:
        committed = git.read_file_at(repo_path=workspace.repo_path, path=path, ref=item.branch)
        if committed is not None and committed.decode(errors="replace") == text:
            raise Conflict(f"{path} already reads like this on the branch of #{item.id}: nothing to commit.",
                           code="nothing_to_commit")
    if text is None:
        work.delete_file(session=session, actor=actor, item_id=item.id, path=path)
    else:
        work.write_file(session=session, actor=actor, item_id=item.id, path=path, content=text)
    for extra_path, extra_text in (extra or {}).items():
        work.write_file(session=session, actor=actor, item_id=item.id, path=extra_path, content=extra_text)
    return work.commit(session=session, actor=actor, item_id=item.id, workspace=workspace, message=entry_text,
                       files=[path, *(extra or {})], entry_type=entry_type if with_entry else None,
                       entry_text=entry_text if with_entry else None)


def _added_on_branch(session: Session, item: WorkItem, workspace: work.Workspace, text: str) -> bool:
    """Whether the branch's CHANGES.md already has the entry ``text`` under Added."""
    return any(e.type == ChangeType.ADDED and e.text.startswith(text)
               for e in work.branch_changelog_entries(workspace=workspace, item=item))


def _open_item(session: Session, item_id: int) -> WorkItem:
    item = work.get_work_item(session=session, item_id=item_id)
    if item.status not in OPEN_STATUSES:
        raise Conflict(f"Work item #{item.id} is {item.status}; choose an open work item or start one.",
                       code="not_open")
    return item


def put_service(*, session: Session, actor: User, item_id: int, slug: str, spec: dict[str, Any],
                workspace: work.Workspace, text: str | None = None) -> ChangeResult:
    """Write the service's YAML into the work item's worktree (keeping a person's comments and key
    order) and commit it with its CHANGES.md entry. `text`, when given, is the whole document as a
    person typed it (already parsed into `spec`) and is written as it is. Raises Invalid with every
    field error, Conflict("nothing_to_commit") when the branch already has exactly this."""
    model = validate_service(slug=slug, spec=spec)
    item = _open_item(session, item_id)
    path = index.service_file(slug)
    before = _worktree_text(item, path)
    if text is None:
        text = apply_spec(before, spec_document(model, original=_plain(before)))
    # Added or Changed is judged against main, not the worktree: a service first written on this branch
    # (by the file API, say) is still an addition when it is saved here.
    on_main = git.read_file_at(repo_path=workspace.repo_path, path=path) is not None
    with_entry = True
    if not on_main:
        verb, entry_type = "Added", ChangeType.ADDED
        # Saved again before the merge: the branch's "Added" entry already says it all.
        with_entry = before is None or not _added_on_branch(session, item, workspace, f"Added service {slug}")
        if not with_entry:
            verb = "Changed"
    elif model.status == ServiceStatus.RETIRED and (_plain(before) or {}).get("status") != "retired":
        verb, entry_type = "Retired", ChangeType.DEPRECATED
    else:
        verb, entry_type = "Changed", ChangeType.CHANGED
    extra = _added_files("service", slug, model, item, workspace, actor) if before is None else None
    commit = _commit(session, actor, item, workspace, path, text, entry_type, f"{verb} service {slug}", extra,
                     with_entry=with_entry)
    return ChangeResult(item.id, commit, path, "created" if before is None else "updated", sorted(extra or {}))


def delete_service(*, session: Session, actor: User, item_id: int, slug: str,
                   workspace: work.Workspace) -> ChangeResult:
    item = _open_item(session, item_id)
    path = index.service_file(slug)
    if _worktree_text(item, path) is None:
        raise NotFound(f"No service file {path} on the branch of #{item.id}.")
    commit = _commit(session, actor, item, workspace, path, None, ChangeType.REMOVED, f"Removed service {slug}")
    return ChangeResult(item.id, commit, path, "deleted")


def _nested_owner(item: WorkItem, session: Session, slug: str) -> str | None:
    """The service file that lists endpoint `slug` under `endpoints:` (per main's index), if any."""
    try:
        endpoint = index.get_endpoint(session=session, slug=slug)
    except NotFound:
        return None
    if not endpoint.nested:
        return None
    text = _worktree_text(item, endpoint.file)
    return endpoint.file if text is not None else None


def put_endpoint(*, session: Session, actor: User, item_id: int, slug: str, spec: dict[str, Any],
                 workspace: work.Workspace, text: str | None = None) -> ChangeResult:
    """Write an endpoint: in its own file, or inside its service's `endpoints:` list when it lives there."""
    model = validate_endpoint(slug=slug, spec=spec)
    item = _open_item(session, item_id)
    owner = _nested_owner(item, session, slug)
    if owner is not None:
        text = _worktree_text(item, owner) or ""
        document = _plain(text) or {}
        entries = list(document.get("endpoints") or [])
        position = next(i for i, e in enumerate(entries) if isinstance(e, dict) and e.get("slug") == slug)
        original = entries[position] if isinstance(entries[position], dict) else None
        entries[position] = spec_document(model, original=original)
        document["endpoints"] = entries
        new_text = apply_spec(text, document)
        commit = _commit(session, actor, item, workspace, owner, new_text, ChangeType.CHANGED,
                         f"Changed endpoint {slug}")
        return ChangeResult(item.id, commit, owner, "updated")
    path = index.endpoint_file(slug)
    before = _worktree_text(item, path)
    if text is None:
        text = apply_spec(before, spec_document(model, original=_plain(before)))
    verb, entry_type = ("Added", ChangeType.ADDED) if before is None else ("Changed", ChangeType.CHANGED)
    extra = _added_files("endpoint", slug, model, item, workspace, actor) if before is None else None
    commit = _commit(session, actor, item, workspace, path, text, entry_type, f"{verb} endpoint {slug}", extra)
    return ChangeResult(item.id, commit, path, "created" if before is None else "updated", sorted(extra or {}))


def delete_endpoint(*, session: Session, actor: User, item_id: int, slug: str,
                    workspace: work.Workspace) -> ChangeResult:
    item = _open_item(session, item_id)
    owner = _nested_owner(item, session, slug)
    if owner is not None:
        text = _worktree_text(item, owner) or ""
        document = _plain(text) or {}
        document["endpoints"] = [e for e in document.get("endpoints") or []
                                 if not (isinstance(e, dict) and e.get("slug") == slug)]
        if not document["endpoints"]:
            del document["endpoints"]
        commit = _commit(session, actor, item, workspace, owner, apply_spec(text, document), ChangeType.REMOVED,
                         f"Removed endpoint {slug}")
        return ChangeResult(item.id, commit, owner, "deleted")
    path = index.endpoint_file(slug)
    if _worktree_text(item, path) is None:
        raise NotFound(f"No endpoint file {path} on the branch of #{item.id}.")
    commit = _commit(session, actor, item, workspace, path, None, ChangeType.REMOVED, f"Removed endpoint {slug}")
    return ChangeResult(item.id, commit, path, "deleted")


# -- standard changes ------------------------------------------------------------------------------------------

OPERATIONS = {"create": WorkAction.NEW, "update": WorkAction.CHANGE, "delete": WorkAction.REMOVE}


def apply_standard_change(
    *, session: Session, actor: User, operation: str, kind: str, slug: str, spec: dict[str, Any] | None,
    summary: str, workspace: work.Workspace, categories: list[str],
) -> WorkItem:
    """A pre-approved change in one call: a `standard` work item is created, the change committed with
    its changelog entry, the notes filled from `summary`, the checklist completed, then merged and
    completed. Validation happens first; if a later step fails the work item is cancelled (its commits
    kept by an archive tag) and the error raised, so main is never half-changed."""
    work.require_standard_changes(session=session)
    if operation not in OPERATIONS:
        raise Invalid(f"operation must be one of {', '.join(OPERATIONS)}.")
    if kind not in ("service", "endpoint"):
        raise Invalid("kind must be service or endpoint.")
    summary = " ".join((summary or "").split())
    if not summary:
        raise Invalid("Write a one-line summary: it becomes the work item's notes.",
                      details=[{"path": "summary", "message": "required"}])
    model = None
    if operation != "delete":
        model = (validate_service if kind == "service" else validate_endpoint)(slug=slug, spec=spec or {})
    exists = (index.read_service_text if kind == "service" else index.read_endpoint_text)(
        repo_path=workspace.repo_path, slug=slug) is not None or _endpoint_nested_on_main(session, kind, slug)
    if operation == "create" and exists:
        raise Conflict(f"The {kind} {slug} already exists on main; use operation update.", code="exists")
    if operation != "create" and not exists:
        raise NotFound(f"No {kind} {slug} on main.")
    if operation == "update" and model is not None and _same_as_main(session, kind, slug, model):
        raise Conflict(f"The {kind} {slug} on main already reads like this: nothing to change.",
                       code="nothing_to_commit")
    service_slug = slug if kind == "service" else (spec or {}).get("service")

    def change(item: WorkItem) -> ChangeResult:
        if operation == "delete":
            return (delete_service if kind == "service" else delete_endpoint)(
                session=session, actor=actor, item_id=item.id, slug=slug, workspace=workspace)
        return (put_service if kind == "service" else put_endpoint)(
            session=session, actor=actor, item_id=item.id, slug=slug, spec=spec or {}, workspace=workspace)

    item, _ = work.run_standard_change(
        session=session, actor=actor, workspace=workspace, categories=categories, change=change,
        notes=lambda _result: summary,
        data=WorkItemCreate(title=summary[:200], category=STANDARD_CATEGORY, action=OPERATIONS[operation],
                            description=f"Standard change: {operation} {kind} {slug}.",
                            service=service_slug if isinstance(service_slug, str) else None))
    return item


def _same_as_main(session: Session, kind: str, slug: str, model: BaseModel) -> bool:
    """True when main's index already holds exactly this spec (so a standard change would be empty)."""
    try:
        row = index.get_service(session=session, slug=slug) if kind == "service" else index.get_endpoint(
            session=session, slug=slug)
    except NotFound:
        return False
    current = dict(row.spec)
    wanted = model.model_dump(mode="json")
    if kind == "endpoint":  # nested endpoints are indexed with their service filled in
        current.pop("service", None)
        wanted.pop("service", None)
    return current == wanted


def _endpoint_nested_on_main(session: Session, kind: str, slug: str) -> bool:
    if kind != "endpoint":
        return False
    try:
        return index.get_endpoint(session=session, slug=slug).nested
    except NotFound:
        return False


# -- what touched a service ----------------------------------------------------------------------------------------

def pending_changes(*, session: Session, workspace: work.Workspace, slug: str) -> list[dict[str, Any]]:
    """Open work items whose branch changes this service's file (or that are linked to it)."""
    path = index.service_file(slug)
    main_text = git.read_file_at(repo_path=workspace.repo_path, path=path)
    out = []
    for item in work.open_work_items(session=session, limit=200):
        if not item.branch or not git.branch_exists(repo_path=workspace.repo_path, branch=item.branch):
            continue
        branch_text = git.read_file_at(repo_path=workspace.repo_path, path=path, ref=item.branch)
        base = git.merge_base(repo_path=workspace.repo_path, branch=item.branch)
        base_text = git.read_file_at(repo_path=workspace.repo_path, path=path, ref=base) if base else main_text
        if branch_text != base_text:
            change = "adds" if base_text is None else ("removes" if branch_text is None else "changes")
            out.append({"item": item, "change": change})
        elif item.service == slug:
            out.append({"item": item, "change": "linked"})
    return out


def service_history(*, session: Session, repo_path: Path, slug: str, limit: int = 30) -> list[dict[str, Any]]:
    """Work items that touched the service: from git history of its file, plus linked items."""
    seen: dict[int, dict[str, Any]] = {}
    for commit in git.merges_touching(repo_path=repo_path, path=index.service_file(slug)):
        for line in commit.message.splitlines():
            if line.startswith("Work-Item: ") and line[11:].strip().isdigit():
                item_id = int(line[11:].strip())
                seen.setdefault(item_id, {"commit": commit})
    for item in work.list_work_items(session=session, filters=work.WorkFilter(service=slug), limit=limit):
        seen.setdefault(item.id, {"commit": None})
    items = work.get_work_items(session=session, ids=list(seen))
    return [{"item": items[i], **seen[i]} for i in sorted(seen, reverse=True) if i in items]

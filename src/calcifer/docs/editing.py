"""Writing docs: every create, edit, rename and delete is a commit on a work item's branch with a
CHANGES.md entry; a standard change does the whole work item (create, commit, document, merge) at once.

Doc paths are checked here before anything touches the disk: only `docs/**.md`, relative, no `..`,
no NUL or control characters, no symbolic links on the way, at most 255 bytes. A refused path raises
Invalid (HTTP 422) and nothing is written.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import posixpath
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from calcifer import gitrepo as git
from calcifer.auth.models import User
from calcifer.changelog.choices import ChangeType
from calcifer.docs import doc_templates
from calcifer.errors import Conflict, DomainError, Invalid, NotFound, Problem
from calcifer.gitrepo import MAX_FILE_BYTES
from calcifer.work import service as work
from calcifer.work.choices import OPEN_STATUSES, STANDARD_CATEGORY, WorkAction
from calcifer.work.models import WorkItem
from calcifer.work.schemas import WorkItemCreate

log = logging.getLogger("calcifer.docs")

DOCS_DIR = "docs"
DOC_SUFFIX = ".md"
MAX_PATH_BYTES = 255
MAX_NAME_BYTES = 200
DOCS_CATEGORY = "documentation"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# -- paths -------------------------------------------------------------------------------------------------

def _refuse(path: str, why: str) -> Invalid:
    shown = path if len(path) <= 80 else path[:77] + "..."
    return Invalid(f"The doc path {shown!r} is refused: {why}.",
                   code="invalid_doc_path", details=[{"field": "path", "message": why}])


def check_doc_path(path: str) -> str:
    """Validate a doc path and return it (surrounding whitespace removed).

    A doc lives under `docs/`, ends in `.md`, is relative and plain. Raises Invalid (code
    `invalid_doc_path`) otherwise; the message says what to fix.
    """
    if not isinstance(path, str):
        raise _refuse(str(path), "it is not text")
    path = path.strip()
    if not path:
        raise _refuse(path, "it is empty; give a path such as docs/runbooks/backup.md")
    if "\x00" in path:
        raise _refuse(path, "it contains a NUL byte")
    if _CONTROL.search(path):
        raise _refuse(path, "it contains control characters")
    if "\\" in path:
        raise _refuse(path, "it contains a backslash; use '/' between folders")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise _refuse(path, "it is absolute; give it relative to the repository, e.g. docs/setup.md")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise _refuse(path, f"it is longer than {MAX_PATH_BYTES} bytes")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise _refuse(path, "it has an empty, '.' or '..' folder name")
        if part.lower().rstrip(". ") == ".git":
            raise _refuse(path, "it reaches into '.git'")
        if len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            raise _refuse(path, f"a name in it is longer than {MAX_NAME_BYTES} bytes")
    if parts[0] != DOCS_DIR or len(parts) < 2:
        raise _refuse(path, "docs live under docs/ (e.g. docs/runbooks/backup.md)")
    if not path.endswith(DOC_SUFFIX) or parts[-1] == DOC_SUFFIX:
        raise _refuse(path, "a doc is a markdown file ending in .md")
    return path


def _check_on_disk(worktree: Path, path: str) -> None:
    """Refuse a doc path with a symbolic link anywhere on its way inside the worktree (a link could
    lead outside the repository, or to a file that is not a doc)."""
    current = worktree
    for part in path.split("/"):
        current = current / part
        if current.is_symlink():
            raise _refuse(path, f"{current.relative_to(worktree).as_posix()} is a symbolic link; Calcifer "
                                "edits only plain files under docs/")
    git.safe_path(root=worktree, path=path)  # belt and braces: also resolves and checks the result


def _check_content(content: str) -> str:
    content = content.replace("\r\n", "\n")
    if "\x00" in content:
        raise Invalid("The doc contains a NUL byte; docs are text.",
                      details=[{"field": "content", "message": "NUL byte"}])
    if len(content.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise Invalid("The doc is larger than 1 MiB; split it into several docs.",
                      details=[{"field": "content", "message": "larger than 1 MiB"}])
    from calcifer.docs.render import check_front_matter  # the renderer belongs to the reading side

    check_front_matter(content)
    return content


# -- links between docs ---------------------------------------------------------------------------------------

_INLINE_LINK = re.compile(r"\]\([ \t]*<?([^()<>\s]+)>?")
_REFERENCE_DEF = re.compile(r"^[ ]{0,3}\[[^\]]+\]:[ \t]*<?([^\s<>]+)>?")
_HTML_HREF = re.compile(r"""\bhref[ \t]*=[ \t]*["']([^"'<>\s]+)["']""", re.IGNORECASE)
_FENCE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
VIEW_PREFIX = "/docs/view/"


@dataclass(frozen=True)
class LinkRef:
    """A link in `path` (line numbered from 1) whose `target` points at the doc in question."""

    path: str
    line: int
    target: str
    where: str = "branch"  # "branch": in the work item's worktree; "main": only on main

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "target": self.target, "where": self.where}


def _targets(text: str) -> Iterator[tuple[int, int, int, str]]:
    """(line number, start, end, target) of each link target outside fenced code blocks."""
    fence: str | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        opened = _FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            continue
        if opened:
            fence = opened.group(1)
            continue
        seen: set[int] = set()
        for match in (*_INLINE_LINK.finditer(line), *_REFERENCE_DEF.finditer(line), *_HTML_HREF.finditer(line)):
            if match.start(1) not in seen:
                seen.add(match.start(1))
                yield number, match.start(1), match.end(1), match.group(1)


def _split_target(target: str) -> tuple[str, str]:
    """(path part, '#fragment' or '?query' suffix)."""
    cut = min((i for i in (target.find("#"), target.find("?")) if i >= 0), default=len(target))
    return target[:cut], target[cut:]


def resolve_link(target: str, *, from_doc: str) -> str | None:
    """The repository path a link in `from_doc` points at, or None (external, anchor, outside docs/).

    Understood: relative links (`../runbooks/x.md`), Calcifer's viewer (`/docs/view/docs/x.md` or
    `/docs/view/x.md`) and repository-absolute ones (`/docs/x.md`).
    """
    raw, _ = _split_target(target)
    if not raw or _SCHEME.match(raw) or raw.startswith("//"):
        return None
    raw = urllib.parse.unquote(raw)
    if raw.startswith(VIEW_PREFIX):
        rest = raw[len(VIEW_PREFIX):]
        resolved = posixpath.normpath(rest if rest.startswith(DOCS_DIR + "/") else f"{DOCS_DIR}/{rest}")
    elif raw.startswith("/"):
        resolved = posixpath.normpath(raw.lstrip("/"))
    else:
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(from_doc), raw))
    if not resolved.startswith(DOCS_DIR + "/") or resolved.startswith("../"):
        return None
    return resolved


def _points_at(target: str, *, from_doc: str, doc: str) -> bool:
    resolved = resolve_link(target, from_doc=from_doc)
    return resolved is not None and (resolved == doc or resolved + DOC_SUFFIX == doc)


def links_to(text: str, *, from_doc: str, doc: str) -> list[tuple[int, str]]:
    """(line, target) of every link in `text` (the doc at `from_doc`) that points at `doc`."""
    return [(number, target) for number, _, _, target in _targets(text)
            if _points_at(target, from_doc=from_doc, doc=doc)]


def _retarget(target: str, *, from_doc: str, new_doc: str) -> str:
    """`target` rewritten to point at `new_doc`, in the same style (relative, viewer or absolute)."""
    raw, suffix = _split_target(target)
    keep_md = urllib.parse.unquote(raw).endswith(DOC_SUFFIX)
    new = new_doc if keep_md else new_doc.removesuffix(DOC_SUFFIX)
    if raw.startswith(VIEW_PREFIX):
        rest = raw[len(VIEW_PREFIX):]
        new = VIEW_PREFIX + (new if rest.startswith(DOCS_DIR + "/") else new.removeprefix(DOCS_DIR + "/"))
    elif raw.startswith("/"):
        new = "/" + new
    else:
        new = posixpath.relpath(new, posixpath.dirname(from_doc) or ".")
    return urllib.parse.quote(new, safe="/._-~") + suffix


def rewrite_links(text: str, *, from_doc: str, old_doc: str, new_doc: str) -> str:
    """`text` with every link to `old_doc` pointing at `new_doc` instead."""
    lines = text.split("\n")
    edits: dict[int, list[tuple[int, int, str]]] = {}
    for number, start, end, target in _targets(text):
        if _points_at(target, from_doc=from_doc, doc=old_doc):
            edits.setdefault(number, []).append((start, end, _retarget(target, from_doc=from_doc, new_doc=new_doc)))
    for number, spans in edits.items():
        line = lines[number - 1]
        for start, end, replacement in sorted(spans, reverse=True):
            line = line[:start] + replacement + line[end:]
        lines[number - 1] = line
    return "\n".join(lines)


def rebase_links(text: str, *, old_doc: str, new_doc: str) -> str:
    """The moved doc's own relative links adjusted so they point where they pointed before the move."""
    lines = text.split("\n")
    edits: dict[int, list[tuple[int, int, str]]] = {}
    for number, start, end, target in _targets(text):
        raw, suffix = _split_target(target)
        if not raw or raw.startswith("/") or _SCHEME.match(raw):
            continue
        resolved = resolve_link(target, from_doc=old_doc)
        if resolved is None or resolved == old_doc:
            continue
        new = posixpath.relpath(resolved, posixpath.dirname(new_doc) or ".")
        if urllib.parse.unquote(raw) != new:
            edits.setdefault(number, []).append((start, end, urllib.parse.quote(new, safe="/._-~") + suffix))
    for number, spans in edits.items():
        line = lines[number - 1]
        for start, end, replacement in sorted(spans, reverse=True):
            line = line[:start] + replacement + line[end:]
        lines[number - 1] = line
    return "\n".join(lines)


def _worktree_docs(worktree: Path) -> Iterator[tuple[str, str]]:
    """(path, text) of every markdown file under the worktree's docs/ (symlinks and big files skipped)."""
    root = worktree / DOCS_DIR
    if not root.is_dir() or root.is_symlink():
        return
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not (Path(folder) / d).is_symlink())
        for name in sorted(files):
            full = Path(folder) / name
            if not name.endswith(DOC_SUFFIX) or full.is_symlink():
                continue
            try:
                data = full.read_bytes()
            except OSError:
                continue
            if len(data) <= MAX_FILE_BYTES:
                yield full.relative_to(worktree).as_posix(), data.decode("utf-8", "replace")


def _main_docs(repo_path: Path) -> Iterator[tuple[str, str]]:
    for path in git.list_files_at(repo_path=repo_path, prefix=DOCS_DIR + "/"):
        if path.endswith(DOC_SUFFIX):
            data = git.read_file_at(repo_path=repo_path, path=path)
            if data is not None and len(data) <= MAX_FILE_BYTES:
                yield path, data.decode("utf-8", "replace")


def find_linking_docs(*, repo_path: Path, doc: str, worktree: Path | None = None,
                      exclude: tuple[str, ...] = ()) -> list[LinkRef]:
    """Every link to `doc` in other docs: in the work item's worktree (the branch, "branch") and in
    main's docs that differ from it (links added on main since the branch started, "main")."""
    found: list[LinkRef] = []
    branch_texts: dict[str, str] = {}
    if worktree is not None:
        for path, text in _worktree_docs(worktree):
            branch_texts[path] = text
            if path != doc and path not in exclude:
                found += [LinkRef(path, line, target) for line, target in links_to(text, from_doc=path, doc=doc)]
    for path, text in _main_docs(repo_path):
        if path == doc or path in exclude or branch_texts.get(path) == text:
            continue
        found += [LinkRef(path, line, target, "main") for line, target in links_to(text, from_doc=path, doc=doc)]
    return found


# -- results ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DocChange:
    work_item_id: int
    commit: str
    path: str
    operation: str  # created | updated | deleted | renamed
    old_path: str | None = None
    linking_docs: list[LinkRef] = field(default_factory=list)
    updated_docs: list[str] = field(default_factory=list)  # docs whose links were rewritten (rename)
    unfilled: list[str] = field(default_factory=list)  # template placeholders left as they were

    def as_dict(self) -> dict[str, object]:
        return {"work_item_id": self.work_item_id, "commit": self.commit, "path": self.path,
                "operation": self.operation, "old_path": self.old_path,
                "linking_docs": [link.as_dict() for link in self.linking_docs],
                "updated_docs": list(self.updated_docs), "unfilled_placeholders": list(self.unfilled)}


@dataclass(frozen=True)
class DocSource:
    path: str
    content: str
    exists: bool
    source: str  # "main", "work item" (the item's worktree changed it) or "new"
    item: WorkItem | None = None


# -- reading for the editor ------------------------------------------------------------------------------------

def open_item(*, session: Session, item_id: int) -> WorkItem:
    """The work item, which must be open. Raises NotFound, Conflict (code not_open)."""
    item = work.get_work_item(session=session, item_id=item_id)
    if item.status not in OPEN_STATUSES:
        raise Conflict(f"Work item #{item.id} is {item.status}; choose an open work item or start one.",
                       code="not_open")
    return item


def _worktree_text(worktree: Path, path: str) -> str | None:
    try:
        return git.read_worktree_file(worktree_path=worktree, path=path)
    except NotFound:
        return None


def _main_text(repo_path: Path, path: str, ref: str = "main") -> str | None:
    data = git.read_file_at(repo_path=repo_path, path=path, ref=ref)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(f"{path} is not UTF-8 text and cannot be edited here.") from exc


def read_doc(*, session: Session, repo_path: Path, path: str, item_id: int | None = None) -> DocSource:
    """The doc as the editor should show it: from the work item's worktree when that item already
    changed it (committed or not), otherwise from main. Raises Invalid for a bad path."""
    path = check_doc_path(path)
    item = open_item(session=session, item_id=item_id) if item_id is not None else None
    main_text = _main_text(repo_path, path)
    if item is not None:
        worktree = work.worktree_of(item)
        _check_on_disk(worktree, path)
        branch_text = _worktree_text(worktree, path)
        base = git.merge_base(repo_path=repo_path, branch=item.branch) or item.base_commit
        base_text = _main_text(repo_path, path, ref=base)
        if branch_text != base_text:
            if branch_text is None:  # the work item deleted it
                return DocSource(path, main_text or "", main_text is not None, "main", item)
            return DocSource(path, branch_text, True, "work item", item)
    if main_text is None:
        return DocSource(path, "", False, "new", item)
    return DocSource(path, main_text, True, "main", item)


# -- changes through a work item --------------------------------------------------------------------------------

def _entry(entry_type: ChangeType | None, entry_text: str | None, default_type: ChangeType,
           default_text: str) -> tuple[ChangeType, str]:
    text = " ".join((entry_text or "").split())
    if text:
        return entry_type or default_type, text
    return default_type, default_text


def _restore(worktree: Path, originals: dict[str, str | None]) -> None:
    """Put files back as they were before a failed change (None: the file did not exist)."""
    for path, text in originals.items():
        try:
            if text is None:
                if (worktree / path).exists():
                    git.delete_worktree_file(worktree_path=worktree, path=path)
            else:
                git.write_worktree_file(worktree_path=worktree, path=path, content=text)
        except (DomainError, OSError):
            log.exception("could not restore %s in %s", path, worktree)


def _commit_change(*, session: Session, actor: User, item: WorkItem, workspace: work.Workspace,
                   writes: dict[str, str | None], entry: tuple[ChangeType, str], message: str | None) -> str:
    """Write (text) or delete (None) each path, then commit exactly those paths with the changelog entry.
    On failure every file is put back as it was and the error raised."""
    worktree = work.worktree_of(item)
    originals = {path: _worktree_text(worktree, path) for path in writes}
    try:
        for path, text in writes.items():
            if text is None:
                work.delete_file(session=session, actor=actor, item_id=item.id, path=path)
            else:
                work.write_file(session=session, actor=actor, item_id=item.id, path=path, content=text)
        return work.commit(session=session, actor=actor, item_id=item.id, workspace=workspace,
                           message=(message or "").strip() or entry[1], files=list(writes),
                           entry_type=entry[0], entry_text=entry[1])
    except BaseException:
        session.rollback()
        _restore(worktree, originals)
        raise


def save_doc(*, session: Session, actor: User, item_id: int, path: str, content: str, workspace: work.Workspace,
             entry_type: ChangeType | None = None, entry_text: str | None = None,
             message: str | None = None, create_only: bool = False) -> DocChange:
    """Write the doc into the work item's worktree and commit it with a CHANGES.md entry (default
    "Added doc <path>" / "Changed doc <path>"). Raises Invalid (path, content), Conflict (item not
    open, nothing changed, or code doc_exists with `create_only` when the doc exists), NotFound (item)."""
    path = check_doc_path(path)
    content = _check_content(content)
    item = open_item(session=session, item_id=item_id)
    worktree = work.worktree_of(item)
    _check_on_disk(worktree, path)
    before = _worktree_text(worktree, path)
    if create_only and (before is not None or (worktree / path).exists()):
        raise Conflict(f"{path} already exists on the branch of #{item.id}; edit it instead of creating it.",
                       code="doc_exists")
    if before is not None and before == content and _main_text(workspace.repo_path, path, ref=item.branch) == content:
        raise Conflict(f"{path} is unchanged: nothing to commit.", code="nothing_to_commit",
                       problems=[Problem("nothing_to_commit", "The doc has no changes.")])
    if before is None:
        entry = _entry(entry_type, entry_text, ChangeType.ADDED, f"Added doc {path}")
    else:
        entry = _entry(entry_type, entry_text, ChangeType.CHANGED, f"Changed doc {path}")
    commit = _commit_change(session=session, actor=actor, item=item, workspace=workspace, writes={path: content},
                            entry=entry, message=message)
    return DocChange(item.id, commit, path, "created" if before is None else "updated")


def delete_doc(*, session: Session, actor: User, item_id: int, path: str, workspace: work.Workspace,
               entry_type: ChangeType | None = None, entry_text: str | None = None,
               message: str | None = None) -> DocChange:
    """Delete the doc on the work item's branch (commit + "Removed doc <path>" entry). The docs that
    still link to it are listed in the result."""
    path = check_doc_path(path)
    item = open_item(session=session, item_id=item_id)
    worktree = work.worktree_of(item)
    _check_on_disk(worktree, path)
    if _worktree_text(worktree, path) is None:
        raise NotFound(f"No doc {path} on the branch of work item #{item.id}.")
    linking = find_linking_docs(repo_path=workspace.repo_path, doc=path, worktree=worktree)
    entry = _entry(entry_type, entry_text, ChangeType.REMOVED, f"Removed doc {path}")
    commit = _commit_change(session=session, actor=actor, item=item, workspace=workspace, writes={path: None},
                            entry=entry, message=message)
    return DocChange(item.id, commit, path, "deleted", linking_docs=linking)


def rename_doc(*, session: Session, actor: User, item_id: int, path: str, new_path: str,
               workspace: work.Workspace, update_links: bool = False, entry_type: ChangeType | None = None,
               entry_text: str | None = None, message: str | None = None) -> DocChange:
    """Move a doc on the work item's branch in one commit ("Renamed doc A to B" entry).

    Docs linking to the old path are found (on the branch and on main) and listed in the result. With
    `update_links` their links on the branch are rewritten to the new path in the same commit, and the
    moved doc's own relative links are adjusted; links only on main are listed, never changed (update
    the work item from main first). Raises Invalid, NotFound (no such doc), Conflict (target exists).
    """
    path, new_path = check_doc_path(path), check_doc_path(new_path)
    if path == new_path:
        raise Invalid("The new path is the same as the old one.", details=[{"field": "new_path",
                                                                             "message": "unchanged"}])
    item = open_item(session=session, item_id=item_id)
    worktree = work.worktree_of(item)
    _check_on_disk(worktree, path)
    _check_on_disk(worktree, new_path)
    text = _worktree_text(worktree, path)
    if text is None:
        raise NotFound(f"No doc {path} on the branch of work item #{item.id}.")
    if (worktree / new_path).exists():
        raise Conflict(f"{new_path} already exists; choose another path or delete that doc first.",
                       code="doc_exists")
    linking = find_linking_docs(repo_path=workspace.repo_path, doc=path, worktree=worktree)
    writes: dict[str, str | None] = {path: None}
    updated: list[str] = []
    if update_links:
        text = rebase_links(text, old_doc=path, new_doc=new_path)
        for linker in sorted({link.path for link in linking if link.where == "branch"}):
            original = _worktree_text(worktree, linker) or ""
            changed = rewrite_links(original, from_doc=linker, old_doc=path, new_doc=new_path)
            if changed != original:
                writes[linker] = changed
                updated.append(linker)
    writes[new_path] = text
    entry = _entry(entry_type, entry_text, ChangeType.CHANGED, f"Renamed doc {path} to {new_path}")
    commit = _commit_change(session=session, actor=actor, item=item, workspace=workspace, writes=writes,
                            entry=entry, message=message)
    return DocChange(item.id, commit, new_path, "renamed", old_path=path, linking_docs=linking,
                     updated_docs=updated)


def new_doc_text(*, session: Session, repo_path: Path, actor: User | None, template: str, path: str,
                 title: str = "", service: str | None = None, item: WorkItem | None = None,
                 today: dt.date | None = None) -> doc_templates.Filled:
    """A new doc's text from `template`, its placeholders filled (safely: no evaluation)."""
    chosen = doc_templates.get_template(repo_path=repo_path, name=template)
    values = doc_templates.base_values(user=actor, title=title, path=path, item=item, today=today)
    if service:
        spec = doc_templates.service_spec_for(session=session, repo_path=repo_path, slug=service, item=item)
        values |= doc_templates.service_values(spec)
    filled = doc_templates.fill(chosen.text, values)
    text = filled.text if filled.text.endswith("\n") else filled.text + "\n"
    return doc_templates.Filled(text, filled.unfilled)


def create_from_template(*, session: Session, actor: User, item_id: int, template: str, path: str,
                         workspace: work.Workspace, service: str | None = None, title: str = "",
                         entry_type: ChangeType | None = None, entry_text: str | None = None,
                         message: str | None = None) -> DocChange:
    """Create a doc from a template in the work item (commit + "Added doc <path>"). Refuses to
    overwrite an existing doc (Conflict code doc_exists)."""
    path = check_doc_path(path)
    item = open_item(session=session, item_id=item_id)
    filled = new_doc_text(session=session, repo_path=workspace.repo_path, actor=actor, template=template,
                          path=path, title=title, service=service, item=item)
    change = save_doc(session=session, actor=actor, item_id=item.id, path=path, content=filled.text,
                      workspace=workspace, entry_type=entry_type, entry_text=entry_text, message=message,
                      create_only=True)
    return DocChange(change.work_item_id, change.commit, change.path, change.operation, unfilled=filled.unfilled)


# -- work items for the editor ---------------------------------------------------------------------------------

def start_item(*, session: Session, actor: User, workspace: work.Workspace, categories: list[str], title: str,
               action: WorkAction) -> WorkItem:
    """A new work item for a doc change (category "documentation" when configured)."""
    category = DOCS_CATEGORY if DOCS_CATEGORY in categories else categories[0]
    return work.create_work_item(session=session, actor=actor, workspace=workspace, categories=categories,
                                 data=WorkItemCreate(title=title[:200], category=category, action=action))


def discard_item(*, session: Session, actor: User, item_id: int, workspace: work.Workspace) -> None:
    """Cancel a work item started for a change that then failed (it holds no commits). Never raises."""
    session.rollback()
    try:
        work.cancel(session=session, actor=actor, item_id=item_id, workspace=workspace, confirm=True)
    except DomainError:
        log.exception("could not cancel work item #%s after a failed doc change", item_id)


# -- standard changes ------------------------------------------------------------------------------------------

DOC_OPERATIONS = {"save": WorkAction.CHANGE, "delete": WorkAction.REMOVE, "rename": WorkAction.CHANGE}


@dataclass(frozen=True)
class StandardResult:
    item: WorkItem
    change: DocChange


def apply_standard_change(
    *, session: Session, actor: User, operation: str, path: str, summary: str, workspace: work.Workspace,
    categories: list[str], content: str | None = None, new_path: str | None = None, update_links: bool = False,
) -> StandardResult:
    """A pre-approved doc change in one call: a `standard` work item is created, the change committed
    with its changelog entry, the notes filled from `summary`, the checklist ticked, then merged and
    completed. Everything is validated first; if a later step fails the work item is cancelled (its
    commits kept by an archive tag) and the error raised, so main is never half-changed.

    Raises Conflict code standard_changes_disabled when an admin switched standard changes off.
    """
    work.require_standard_changes(session=session)
    if operation not in DOC_OPERATIONS:
        raise Invalid(f"operation must be one of {', '.join(DOC_OPERATIONS)}.")
    path = check_doc_path(path)
    summary = " ".join((summary or "").split())
    if not summary:
        raise Invalid("Write a one-line summary: it becomes the work item's notes.",
                      details=[{"field": "summary", "message": "required"}])
    exists = _main_text(workspace.repo_path, path) is not None
    action = DOC_OPERATIONS[operation]
    if operation == "save":
        content = _check_content(content or "")
        action = WorkAction.CHANGE if exists else WorkAction.NEW
    elif not exists:
        raise NotFound(f"No doc {path} on main.")
    if operation == "rename":
        new_path = check_doc_path(new_path or "")
        if _main_text(workspace.repo_path, new_path) is not None:
            raise Conflict(f"{new_path} already exists on main.", code="doc_exists")
    def change(item: WorkItem) -> DocChange:
        if operation == "save":
            return save_doc(session=session, actor=actor, item_id=item.id, path=path, content=content or "",
                            workspace=workspace)
        if operation == "delete":
            return delete_doc(session=session, actor=actor, item_id=item.id, path=path, workspace=workspace)
        return rename_doc(session=session, actor=actor, item_id=item.id, path=path, new_path=new_path or "",
                          workspace=workspace, update_links=update_links)

    item, result = work.run_standard_change(
        session=session, actor=actor, workspace=workspace, categories=categories, change=change,
        notes=lambda _result: summary,
        data=WorkItemCreate(title=summary[:200], category=STANDARD_CATEGORY, action=action,
                            description=f"Standard change: {operation} doc {path}"
                                        + (f" to {new_path}" if operation == "rename" else "") + "."))
    return StandardResult(item, result)


# -- preview ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Preview:
    html: str
    title: str


def preview(*, markdown: str, doc_path: str = "") -> Preview:
    """The doc rendered exactly as the viewer renders it (same markdown parser and sanitiser)."""
    # Imported here: the renderer belongs to the reading side of this slice.
    from calcifer.docs.render import render_markdown

    markdown = _check_content(markdown)
    try:
        path = check_doc_path(doc_path) if doc_path else "docs/preview.md"
    except Invalid:
        path = "docs/preview.md"  # the path only resolves relative links; a bad one must not stop a preview
    rendered = render_markdown(markdown, doc_path=path)
    return Preview(html=str(rendered.html), title=str(rendered.title or ""))

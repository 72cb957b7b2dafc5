"""A doc's history and diffs on main, and the changelog (CHANGES.md) entries with their filters.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from calcifer.changelog import service as changelog
from calcifer.changelog.choices import ChangeType
from calcifer.docs.render import (
    render_inline_markdown,
)
from calcifer.docs.service import (
    _SLUG,
    _TRAILER,
    _TRAILING_REF,
    _WORK_LINK,
    CHANGELOG_PATH,
    MAX_CHANGELOG_LIMIT,
    MAX_DIFF_LINES,
    MAX_HISTORY_SCAN,
    _blob_at,
    _commit_on_main,
    _decode,
    _entry,
    _main_commit,
    _repo,
    validate_doc_path,
)
from calcifer.errors import Invalid, NotFound
from calcifer.gitrepo import Commit, CommitInfo, Repository, blob_patch, commit_info, text_patch
from calcifer.history.diffview import FileView, file_view
from calcifer.listing import keyset_page
from calcifer.work import service as work_service

# ==================================================================================================
# history


def work_item_from_message(message: str) -> int | None:
    """The work item a commit belongs to: ``Work-Item: N`` trailer, else ``[#N](/work/N)``, else a
    trailing ``(#N)`` on the first line. None when the message names none."""
    for pattern, text in ((_TRAILER, message), (_WORK_LINK, message),
                          (_TRAILING_REF, message.split("\n", 1)[0])):
        match = pattern.search(text)
        if match:
            return int(match.group(1))
    return None


@dataclass(frozen=True)
class HistoryEntry:
    commit: CommitInfo
    change: str  # "added" | "modified" | "deleted"
    work_item_id: int | None = None
    work_item_title: str | None = None


@dataclass(frozen=True)
class HistoryPage:
    path: str
    entries: list[HistoryEntry]
    next_cursor: str | None  # pass as ``before`` for older entries
    exists: bool  # the doc exists on main


def first_parent_changes(repo: Repository, start: Commit, path: str, *, limit: int,
                          max_scan: int = MAX_HISTORY_SCAN) -> tuple[list[tuple[Commit, str]], str | None]:
    """Commits on the first-parent line from ``start`` whose version of ``path`` differs from their
    first parent's, newest first, with the kind of change. Also returns where to continue (or None)."""
    found: list[tuple[Commit, str]] = []
    commit = start
    mine = _entry(commit, path)
    for _ in range(max_scan):
        parent_ids = commit.parent_ids
        parent = repo[parent_ids[0]].peel(Commit) if parent_ids else None
        theirs = _entry(parent, path) if parent is not None else None
        mine_id = mine.id if mine is not None else None
        theirs_id = theirs.id if theirs is not None else None
        if mine_id != theirs_id:
            change = "added" if theirs_id is None else ("deleted" if mine_id is None else "modified")
            found.append((commit, change))
            if len(found) >= limit:
                return found, str(parent.id) if parent is not None else None
        if parent is None:
            return found, None
        commit, mine = parent, theirs
    return found, str(commit.id)


def _entries(session: Session, changes: list[tuple[Commit, str]]) -> list[HistoryEntry]:
    infos = [(commit_info(commit), change) for commit, change in changes]
    wanted = {wid for info, _ in infos if (wid := work_item_from_message(info.message)) is not None}
    items = work_service.get_work_items(session=session, ids=wanted)
    entries = []
    for info, change in infos:
        wid = work_item_from_message(info.message)
        item = items.get(wid) if wid is not None else None
        entries.append(HistoryEntry(commit=info, change=change, work_item_id=wid,
                                    work_item_title=item.title if item is not None else None))
    return entries


def doc_history(*, session: Session, repo_path: Path, path: str, limit: int = 50,
                before: str | None = None) -> HistoryPage:
    """The commits on main that changed the doc, newest first, each with its work item.

    ``before`` (a cursor from the previous page: a commit id) continues further back. The doc need
    not exist on main any more (a deleted doc keeps its history). Raises Invalid for a bad path or
    cursor, NotFound when the doc never existed in the part of main's history walked.
    """
    clean = validate_doc_path(path)
    limit = max(1, min(int(limit), 200))
    repo = _repo(repo_path)
    main = _main_commit(repo)
    start = _commit_on_main(repo, before) if before else main
    changes, next_cursor = first_parent_changes(repo, start, clean, limit=limit)
    exists = _entry(main, clean) is not None
    if not changes and not exists and not before:
        raise NotFound(f"There is no doc {clean} on main, and none in its history.")
    return HistoryPage(path=clean, entries=_entries(session, changes), next_cursor=next_cursor, exists=exists)


def last_change(*, session: Session, repo_path: Path, path: str, rev: str | None = None) -> HistoryEntry | None:
    """The latest commit on main (or before ``rev``) that changed the doc; None when none is found."""
    clean = validate_doc_path(path)
    repo = _repo(repo_path)
    changes, _ = first_parent_changes(repo, _commit_on_main(repo, rev), clean, limit=1)
    return _entries(session, changes)[0] if changes else None


# ==================================================================================================
# diff


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "file" | "meta" | "hunk" | "add" | "del" | "ctx"
    text: str


@dataclass(frozen=True)
class DocDiff:
    path: str
    old: CommitInfo
    new: CommitInfo
    lines: list[DiffLine]
    identical: bool
    truncated: bool = False
    added: int = 0
    removed: int = 0
    view: FileView | None = None  # drawn by the shared diff view (asked for by the page)


def _line_kind(line: str) -> str:
    if line.startswith(("+++ ", "--- ")):
        return "file"
    if line.startswith(("diff --git", "index ", "new file", "deleted file", "similarity", "rename ",
                        "old mode", "new mode", "\\ No newline")):
        return "meta"
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "add"
    if line.startswith("-"):
        return "del"
    return "ctx"


def doc_diff(*, repo_path: Path, path: str, old: str | None, new: str | None, view: bool = False) -> DocDiff:
    """The unified diff of the doc between two commits of main's history (``new`` defaults to main's
    tip; ``old`` to the change before the one that wrote ``new``'s version). With ``view``, also drawn as
    the history's diff view draws a file (numbered lines, unified or side by side, changed words).

    A side where the doc does not exist counts as empty. Raises Invalid for a bad path or commit id,
    NotFound for a commit not on main, or when there is nothing older to compare with.
    """
    clean = validate_doc_path(path)
    repo = _repo(repo_path)
    new_commit = _commit_on_main(repo, new)
    if old:
        old_commit = _commit_on_main(repo, old)
    else:
        # The doc at ``new`` is what its latest change wrote; compare with the change before that (as
        # the history lists them), or with nothing when that change created it.
        changes, _ = first_parent_changes(repo, new_commit, clean, limit=2)
        if len(changes) > 1:
            old_commit = changes[1][0]
        elif changes and changes[0][0].parent_ids:
            old_commit = changes[0][0].parents[0]
        else:
            raise NotFound(f"{clean} has no earlier version to compare with.")
    old_blob = _blob_at(repo, old_commit, clean, what="doc")
    new_blob = _blob_at(repo, new_commit, clean, what="doc")
    if old_blob is None and new_blob is None:
        raise NotFound(f"{clean} exists in neither {str(old_commit.id)[:10]} nor {str(new_commit.id)[:10]}.")
    old_data = old_blob.data if old_blob is not None else b""
    new_data = new_blob.data if new_blob is not None else b""
    for data in (old_data, new_data):
        _decode(data, clean)  # size and encoding checks
    if old_data == new_data:
        return DocDiff(path=clean, old=commit_info(old_commit), new=commit_info(new_commit), lines=[],
                       identical=True)
    text, added, removed = text_patch(old_data, new_data, path=clean, context_lines=3)
    raw_lines = text.splitlines()
    truncated = len(raw_lines) > MAX_DIFF_LINES
    lines = [DiffLine(_line_kind(line), line) for line in raw_lines[:MAX_DIFF_LINES]]
    drawn = file_view(blob_patch(old_data, new_data, path=clean), max_lines=MAX_DIFF_LINES) if view else None
    return DocDiff(path=clean, old=commit_info(old_commit), new=commit_info(new_commit), lines=lines,
                   identical=False, truncated=truncated, added=added, removed=removed, view=drawn)


# ==================================================================================================
# the changelog


@dataclass(frozen=True)
class ChangelogFilter:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    type: ChangeType | None = None
    service: str | None = None
    text: str | None = None

    def as_params(self) -> dict[str, str]:
        values = {"from": self.date_from.isoformat() if self.date_from else "",
                  "to": self.date_to.isoformat() if self.date_to else "",
                  "type": self.type.value if self.type else "", "service": self.service or "", "q": self.text or ""}
        return {key: value for key, value in values.items() if value}


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None or not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError as exc:
        raise Invalid(f"'{name}' must be a date like 2026-01-31, not {value[:40]!r}.",
                      details=[{"field": name, "message": "not a date (YYYY-MM-DD)"}]) from exc


def changelog_filter(*, date_from: str | None = None, date_to: str | None = None, type: str | None = None,
                     service: str | None = None, text: str | None = None) -> ChangelogFilter:
    """Parse the changelog filters from query strings (empty means "any"). Raises Invalid with the field."""
    start, end = _date(date_from, "from"), _date(date_to, "to")
    if start and end and start > end:
        raise Invalid("'from' is after 'to': swap the dates.", details=[{"field": "from", "message": "after 'to'"}])
    change_type = None
    if type and type.strip():
        by_word = {t.value.casefold(): t for t in ChangeType}
        change_type = by_word.get(type.strip().casefold())
        if change_type is None:
            raise Invalid(f"Unknown type of change {type[:40]!r}: use one of "
                          f"{', '.join(t.value for t in ChangeType)}.",
                          details=[{"field": "type", "message": "unknown type"}])
    slug = service.strip().lower() if service and service.strip() else None
    if slug is not None and not _SLUG.match(slug):
        raise Invalid(f"{str(service)[:70]!r} is not a service slug.",
                      details=[{"field": "service", "message": "not a slug"}])
    query = " ".join(text.split())[:200] if text and text.strip() else None
    return ChangelogFilter(date_from=start, date_to=end, type=change_type, service=slug, text=query)


@dataclass(frozen=True)
class ChangelogRow:
    section: str
    date: dt.date | None
    type: str | None  # the Keep a Changelog type, or the entry's own heading, or None
    text: str
    html: str  # the entry's markdown as sanitised inline HTML
    work_item_id: int | None
    work_item_title: str | None
    service: str | None  # the work item's service
    commit: str | None  # the work item's merge commit on main


_entry_cache: OrderedDict[str, tuple[changelog.Entry, ...]] = OrderedDict()
_entry_cache_lock = threading.Lock()


def _main_entries(repo_path: Path) -> tuple[changelog.Entry, ...]:
    repo = _repo(repo_path)
    try:
        blob = _blob_at(repo, _main_commit(repo), CHANGELOG_PATH, what="changelog")
    except Invalid:
        blob = None
    if blob is None:
        return ()
    key = str(blob.id)
    with _entry_cache_lock:
        if key in _entry_cache:
            _entry_cache.move_to_end(key)
            return _entry_cache[key]
    text = blob.data.decode("utf-8", errors="replace")
    entries = tuple(changelog.latest_entries(text, limit=1_000_000))  # newest first, as rendered
    with _entry_cache_lock:
        _entry_cache[key] = entries
        while len(_entry_cache) > 4:
            _entry_cache.popitem(last=False)
    return entries


def _mentions_service(text: str, slug: str) -> bool:
    pattern = rf"(?<![\w-])service[\s:]+`?{re.escape(slug)}`?(?![\w-])|/services/{re.escape(slug)}(?![\w-])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def changelog_entries(*, session: Session, repo_path: Path, filters: ChangelogFilter, limit: int = 100,
                      cursor: str | None = None) -> tuple[list[ChangelogRow], str | None]:
    """CHANGES.md entries on main, newest first, matching every filter; a page at a time.

    Dates filter on the entry's section date (undated sections, like Unreleased, drop out when a date
    is given). ``service`` keeps entries whose work item names that service, or whose text says
    "service <slug>" or links /services/<slug>. Raises Invalid for a bad cursor.
    """
    limit = max(1, min(int(limit), MAX_CHANGELOG_LIMIT))
    service_items: set[int] = set()
    if filters.service:
        service_items = {item.id for item in work_service.list_work_items(
            session=session, filters=work_service.WorkFilter(service=filters.service), limit=10_000)}
    needle = filters.text.casefold() if filters.text else None
    everything = _main_entries(repo_path)
    # Each entry numbered from the oldest: merges add entries on top, so an older one keeps its number.
    matched: list[tuple[int, changelog.Entry]] = []
    for place, entry in enumerate(everything):
        date = entry.date
        if filters.date_from and (date is None or date < filters.date_from):
            continue
        if filters.date_to and (date is None or date > filters.date_to):
            continue
        if filters.type and entry.type != filters.type:
            continue
        if filters.service and entry.work_item_id not in service_items \
                and not _mentions_service(entry.text, filters.service):
            continue
        if needle and needle not in entry.text.casefold():
            continue
        matched.append((len(everything) - place, entry))
    if cursor and cursor.isdigit() and len(cursor) <= 9:  # an offset, what this list gave out before
        matched, cursor = matched[int(cursor):], None
    numbered, next_cursor = keyset_page(matched, key=lambda row: (-row[0],), types=(int,), cursor=cursor,
                                        limit=limit)
    page = [entry for _, entry in numbered]
    items = work_service.get_work_items(session=session,
                                        ids={e.work_item_id for e in page if e.work_item_id is not None})
    rows = []
    for entry in page:
        item = items.get(entry.work_item_id) if entry.work_item_id is not None else None
        rows.append(ChangelogRow(
            section=entry.section, date=entry.date, type=entry.heading_key or None, text=entry.text,
            html=render_inline_markdown(entry.text), work_item_id=entry.work_item_id,
            work_item_title=item.title if item is not None else None,
            service=item.service if item is not None else None,
            commit=item.merge_commit if item is not None else None))
    return rows, next_cursor

"""Work items as other slices read them: typed records, never the ``work_items`` rows themselves.

A declared read model (docs/architecture.md, "Reading another slice's data"): search indexes the text
of every work item from here, and an import checks open work items against the repository's branches.
Slices that act on one work item (a merge rule, a hook, an editor) receive it from ``work.service``.
Each function is one query however many rows it returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from calcifer.work.choices import OPEN_STATUSES
from calcifer.work.models import WorkItem

PAGE = 500


@dataclass(frozen=True, slots=True)
class WorkItemText:
    """What a person may search a work item by."""

    id: int
    title: str
    status: str
    category: str
    action: str
    service: str | None
    branch: str
    description: str
    notes: str

    @classmethod
    def of(cls, item: WorkItem) -> WorkItemText:
        return cls(id=item.id, title=item.title, status=item.status, category=item.category, action=item.action,
                   service=item.service, branch=item.branch, description=item.description or "",
                   notes=item.notes or "")


_TEXT_COLUMNS = (WorkItem.id, WorkItem.title, WorkItem.status, WorkItem.category, WorkItem.action,
                 WorkItem.service, WorkItem.branch, WorkItem.description, WorkItem.notes)


def work_item_texts(*, session: Session, page: int = PAGE) -> Iterator[WorkItemText]:
    """Every work item's text, newest first, read ``page`` rows a query (keyset by id)."""
    before: int | None = None
    while True:
        query = select(*_TEXT_COLUMNS).order_by(WorkItem.id.desc()).limit(page)
        if before is not None:
            query = query.where(WorkItem.id < before)
        rows = session.execute(query).all()
        for row in rows:
            yield WorkItemText(id=row.id, title=row.title, status=row.status, category=row.category,
                               action=row.action, service=row.service, branch=row.branch,
                               description=row.description or "", notes=row.notes or "")
        if len(rows) < page:
            return
        before = rows[-1].id


@dataclass(frozen=True, slots=True)
class OpenBranch:
    id: int
    branch: str


def open_branches(*, session: Session) -> list[OpenBranch]:
    """Every open work item's id and branch name (``""`` when it has none yet), by id."""
    rows = session.execute(select(WorkItem.id, WorkItem.branch).where(WorkItem.status.in_(OPEN_STATUSES))
                           .order_by(WorkItem.id))
    return [OpenBranch(int(item_id), branch or "") for item_id, branch in rows]


def open_item_titled(*, session: Session, title: str) -> int | None:
    """The id of the oldest open work item with exactly this title (an import's own item), or None."""
    return session.scalar(select(WorkItem.id).where(WorkItem.status.in_(OPEN_STATUSES), WorkItem.title == title)
                          .order_by(WorkItem.id).limit(1))

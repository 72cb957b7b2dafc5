"""Reviews of work items: review requests, approvals and change requests, and the merge rule they feed.

Choices (also listed in the description of the `merges_need_approval` preference):

- The history is append-only. A work item's *current* review state is each reviewer's latest verdict
  (approve or changes_requested); a review request is history only, never a verdict.
- Only an editor or admin other than the work item's author approves or requests changes; anyone who
  edits may request a review. Verdicts of reviewers who can no longer review (deactivated, deleted or
  demoted to viewer) stop counting, so nobody's old "changes requested" blocks an item for ever.
- Stale approvals are dismissed, as GitHub's "dismiss stale approvals on new commits": every entry keeps
  the branch tip it was made at, and an approval counts only while that is still the tip. Any new commit
  dismisses it, "Update from main" included (what would merge is no longer what was reviewed). Change
  requests are not dismissed by commits: they stand until that reviewer approves.
- While the preference `merges_need_approval` is on, merge-and-complete needs a current approval
  (`review_required`) and no current change request (`changes_requested`). While it is off, reviews are
  advisory: shown, never enforced, so teams that do not review are never blocked by a stray verdict.
- Standard changes (category `standard`) are pre-approved by definition and need no review.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from calcifer import gitrepo as git
from calcifer.audit import service as audit_service
from calcifer.auth.choices import Role
from calcifer.auth.models import User
from calcifer.auth.roles import has_role
from calcifer.errors import Conflict, Invalid, PermissionDenied, Problem
from calcifer.prefs import service as prefs
from calcifer.prefs.choices import Pref
from calcifer.work import service as work
from calcifer.work.choices import (
    OPEN_STATUSES,
    STANDARD_CATEGORY,
    ReviewAction,
    ReviewProblem,
    ReviewState,
    ReviewVerdict,
)
from calcifer.work.models import WorkItem, WorkReview
from calcifer.work.schemas import COMMENT_MAX

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


VERDICT_OF = {ReviewAction.APPROVE: ReviewVerdict.APPROVE,
              ReviewAction.CHANGES_REQUESTED: ReviewVerdict.CHANGES_REQUESTED,
              ReviewAction.REQUEST: ReviewVerdict.REQUESTED}
_VERDICTS = (ReviewVerdict.APPROVE.value, ReviewVerdict.CHANGES_REQUESTED.value)


class ReviewEventHook(Protocol):
    """Called in the review's transaction, before it commits (the outbox records work_item.reviewed)."""

    def __call__(self, *, session: Session, item: WorkItem, verdict: str, reviewer: str, comment: str) -> None: ...


REVIEW_EVENT_HOOKS: list[ReviewEventHook] = []  # filled by calcifer.wiring


@dataclass(frozen=True)
class CurrentVerdict:
    """One reviewer's latest verdict; `stale` is an approval of a commit that is no longer the tip."""

    reviewer: str
    verdict: ReviewVerdict
    comment: str
    commit: str
    at: dt.datetime
    stale: bool


@dataclass(frozen=True)
class ReviewSummary:
    state: ReviewState
    required: bool                      # the preference is on and the item is not a standard change
    branch_tip: str | None              # None when the branch is gone (finished items)
    current: list[CurrentVerdict] = field(default_factory=list)
    requested_by: str | None = None
    requested_at: dt.datetime | None = None

    @property
    def approvals(self) -> list[str]:
        return [c.reviewer for c in self.current if c.verdict == ReviewVerdict.APPROVE and not c.stale]

    @property
    def stale_approvals(self) -> list[str]:
        return [c.reviewer for c in self.current if c.verdict == ReviewVerdict.APPROVE and c.stale]

    @property
    def changes_requested(self) -> list[str]:
        return [c.reviewer for c in self.current if c.verdict == ReviewVerdict.CHANGES_REQUESTED]


@dataclass(frozen=True)
class ReviewPanel:
    """What the work item page shows: the summary and the newest entries of the history."""

    summary: ReviewSummary
    history: list[WorkReview]
    total: int


def clean_comment(comment: str) -> str:
    """Normalise line endings (browsers send CRLF) and check the length. Raises Invalid."""
    comment = comment.replace("\r\n", "\n").strip()
    if len(comment) > COMMENT_MAX:
        raise Invalid(f"A review comment holds at most {COMMENT_MAX} characters; this one has {len(comment)}.",
                      details=[{"field": "comment", "message": f"at most {COMMENT_MAX} characters"}])
    if _CONTROL.search(comment):
        raise Invalid("Remove control characters from the comment.",
                      details=[{"field": "comment", "message": "control characters"}])
    return comment


def _can_review(user: User | None) -> bool:
    return has_role(user, Role.EDITOR)


def _branch_tip(workspace: work.Workspace, item: WorkItem) -> str | None:
    if not item.branch:
        return None
    return git.branch_tip(repo_path=workspace.repo_path, branch=item.branch)


def add_review(
    *, session: Session, actor: User, item_id: int, action: ReviewAction, comment: str, workspace: work.Workspace
) -> WorkReview:
    """Record a review request, an approval or a change request at the branch's current tip; audited.

    Raises NotFound (no such item), PermissionDenied (a viewer), Invalid (comment too long or with control
    characters; a change request without a comment), Conflict `not_open` (item complete or cancelled) or
    Conflict `own_work_item` (the author approving or requesting changes on their own item).
    """
    item = work.get_work_item(session=session, item_id=item_id)
    if not _can_review(actor):
        raise PermissionDenied(f"Reviewing needs the editor role; you are {actor.role}.")
    comment = clean_comment(comment)
    verdict = VERDICT_OF[action]
    if verdict == ReviewVerdict.CHANGES_REQUESTED and not comment:
        raise Invalid("Say what should change: a change request needs a comment.",
                      details=[{"field": "comment", "message": "required when requesting changes"}])
    if item.status not in OPEN_STATUSES:
        raise Conflict(f"Work item #{item.id} is {item.status}; only open work items are reviewed.",
                       code="not_open")
    if verdict != ReviewVerdict.REQUESTED and item.author_id is not None and item.author_id == actor.id:
        what = "approve" if verdict == ReviewVerdict.APPROVE else "request changes on"
        raise Conflict(f"You opened work item #{item.id}, so you cannot {what} it yourself: ask another editor "
                       "or admin to review it.", code="own_work_item")
    tip = _branch_tip(workspace, item) or ""
    review = WorkReview(work_item_id=item.id, reviewer_id=actor.id, reviewer_name=actor.username,
                        verdict=verdict.value, comment=comment, commit=tip)
    session.add(review)
    session.flush()
    did = {ReviewVerdict.APPROVE: "approved", ReviewVerdict.CHANGES_REQUESTED: "requested changes on",
           ReviewVerdict.REQUESTED: "requested a review of"}[verdict]
    audit_service.record(session=session, actor=actor, action="work_item.review", object_type="work_item",
                         object_id=item.id, summary=f"{did} #{item.id}" + (f" at {tip[:10]}" if tip else ""),
                         after={"review_id": review.id, "verdict": verdict.value, "comment": comment,
                                "commit": tip or None})
    for hook in list(REVIEW_EVENT_HOOKS):
        hook(session=session, item=item, verdict=verdict.value, reviewer=actor.username, comment=comment)
    session.commit()
    session.refresh(review)
    return review


def list_reviews(*, session: Session, item_id: int, limit: int = 50, before_id: int | None = None) -> list[WorkReview]:
    """The review history of a work item, newest first, keyset-paginated by id. Raises NotFound."""
    work.get_work_item(session=session, item_id=item_id)
    query = (select(WorkReview).where(WorkReview.work_item_id == item_id)
             .order_by(WorkReview.id.desc()).limit(limit))
    if before_id is not None:
        query = query.where(WorkReview.id < before_id)
    return list(session.scalars(query).unique())


def count_reviews(*, session: Session, item_id: int) -> int:
    query = select(func.count(WorkReview.id)).where(WorkReview.work_item_id == item_id)
    return int(session.scalar(query) or 0)


def approval_required(*, session: Session, item: WorkItem) -> bool:
    """True when merging this item needs an approving review (preference on, not a standard change)."""
    if item.category == STANDARD_CATEGORY:
        return False
    return prefs.get_bool(session=session, key=Pref.MERGES_NEED_APPROVAL)


def summary(*, session: Session, item: WorkItem, workspace: work.Workspace) -> ReviewSummary:
    """The current review state: each reviewer's latest verdict, judged against the branch tip."""
    latest_ids = (select(func.max(WorkReview.id))
                  .where(WorkReview.work_item_id == item.id, WorkReview.verdict.in_(_VERDICTS),
                         WorkReview.reviewer_id.is_not(None))
                  .group_by(WorkReview.reviewer_id))
    latest = session.scalars(select(WorkReview).where(WorkReview.id.in_(latest_ids))
                             .order_by(WorkReview.id)).unique()
    # A finished item's branch is gone: its verdicts are shown as they were given.
    tip = _branch_tip(workspace, item) if item.status in OPEN_STATUSES else None
    current = [CurrentVerdict(reviewer=r.reviewer_name, verdict=ReviewVerdict(r.verdict), comment=r.comment,
                              commit=r.commit, at=r.created_at,
                              stale=tip is not None and r.verdict == ReviewVerdict.APPROVE and r.commit != tip)
               for r in latest if _can_review(r.reviewer) and r.reviewer_id != item.author_id]
    request = session.scalars(select(WorkReview)
                              .where(WorkReview.work_item_id == item.id,
                                     WorkReview.verdict == ReviewVerdict.REQUESTED.value)
                              .order_by(WorkReview.id.desc()).limit(1)).first()
    if any(c.verdict == ReviewVerdict.CHANGES_REQUESTED for c in current):
        state = ReviewState.CHANGES_REQUESTED
    elif any(c.verdict == ReviewVerdict.APPROVE and not c.stale for c in current):
        state = ReviewState.APPROVED
    elif request is not None or current:  # only stale approvals left: waiting for a new review
        state = ReviewState.REQUESTED
    else:
        state = ReviewState.NONE
    return ReviewSummary(state=state, required=approval_required(session=session, item=item), branch_tip=tip,
                         current=current, requested_by=request.reviewer_name if request else None,
                         requested_at=request.created_at if request else None)


def panel(*, session: Session, item: WorkItem, workspace: work.Workspace, limit: int = 50) -> ReviewPanel:
    """The work item page's Reviews card."""
    return ReviewPanel(summary=summary(session=session, item=item, workspace=workspace),
                       history=list_reviews(session=session, item_id=item.id, limit=limit),
                       total=count_reviews(session=session, item_id=item.id))


def review_problems(*, session: Session, item: WorkItem, workspace: work.Workspace) -> list[Problem]:
    """The review rules of merge-and-complete (empty while the preference is off)."""
    if not approval_required(session=session, item=item):
        return []
    state = summary(session=session, item=item, workspace=workspace)
    problems: list[Problem] = []
    if state.changes_requested:
        problems.append(Problem(ReviewProblem.CHANGES_REQUESTED,
                                f"Changes were requested by {', '.join(state.changes_requested)}: address them "
                                "and ask for a new review (it stands until that reviewer approves)."))
    if not state.approvals:
        message = "An approving review is needed: an editor or admin other than the author approves the latest commit."
        if state.stale_approvals:
            message += (f" The approval by {', '.join(state.stale_approvals)} was of an earlier commit and was "
                        "dismissed by newer commits: ask for a new review.")
        problems.append(Problem(ReviewProblem.REVIEW_REQUIRED, message))
    return problems


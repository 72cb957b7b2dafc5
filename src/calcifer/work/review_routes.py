"""Work-item reviews: the JSON API and the work page's review form. Thin handlers over `work.reviews`.

Importing this module imports `calcifer.work.reviews`, which registers the review merge rule.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from calcifer.deps import CurrentUser, RequireEditor, SessionDep
from calcifer.errors import Conflict, Invalid
from calcifer.listing import id_cursor, next_id_cursor
from calcifer.web.security import flash
from calcifer.work import reviews
from calcifer.work import service as work
from calcifer.work.choices import ReviewAction, ReviewVerdict
from calcifer.work.models import WorkReview
from calcifer.work.routes import WorkspaceDep
from calcifer.work.schemas import (
    CurrentVerdictPublic,
    ReviewCreate,
    ReviewListPublic,
    ReviewPublic,
    ReviewSummaryPublic,
)

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["reviews"])


def review_public(review: WorkReview) -> ReviewPublic:
    return ReviewPublic(id=review.id, work_item_id=review.work_item_id, reviewer=review.reviewer_name,
                        verdict=ReviewVerdict(review.verdict), comment=review.comment, commit=review.commit or None,
                        created_at=review.created_at)


def summary_public(summary: reviews.ReviewSummary) -> ReviewSummaryPublic:
    return ReviewSummaryPublic(
        state=summary.state, required=summary.required, branch_tip=summary.branch_tip,
        approvals=summary.approvals, stale_approvals=summary.stale_approvals,
        changes_requested=summary.changes_requested, requested_by=summary.requested_by,
        requested_at=summary.requested_at,
        reviewers=[CurrentVerdictPublic(reviewer=c.reviewer, verdict=c.verdict, comment=c.comment,
                                        commit=c.commit or None, at=c.at, stale=c.stale) for c in summary.current],
    )


# =============================== JSON API ===============================

@api.post("/work-items/{item_id}/reviews", response_model=ReviewPublic, status_code=201)
def api_add_review(session: SessionDep, user: RequireEditor, item_id: int, data: ReviewCreate,
                   workspace: WorkspaceDep) -> ReviewPublic:
    """Request a review, approve, or request changes. 409 `own_work_item` when the author approves or
    requests changes on their own work item, 409 `not_open` when it is complete or cancelled."""
    return review_public(reviews.add_review(session=session, actor=user, item_id=item_id, action=data.verdict,
                                            comment=data.comment, workspace=workspace))


@api.get("/work-items/{item_id}/reviews", response_model=ReviewListPublic)
def api_list_reviews(
    session: SessionDep, user: CurrentUser, item_id: int, workspace: WorkspaceDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> ReviewListPublic:
    """The review history (newest first, paginated) and the current review state."""
    items = reviews.list_reviews(session=session, item_id=item_id, limit=limit, before_id=id_cursor(cursor))
    item = work.get_work_item(session=session, item_id=item_id)
    return ReviewListPublic(items=[review_public(r) for r in items],
                            next_cursor=next_id_cursor([r.id for r in items], limit),
                            summary=summary_public(reviews.summary(session=session, item=item, workspace=workspace)))


# =============================== pages ===============================

@pages.post("/work/{item_id}/reviews")
def review_submit(request: Request, session: SessionDep, user: RequireEditor, item_id: int, workspace: WorkspaceDep,
                  verdict: Annotated[str, Form()] = "", comment: Annotated[str, Form()] = "") -> Response:
    try:
        action = ReviewAction(verdict)
    except ValueError:
        flash(request, "error", f"Unknown review verdict {verdict!r}.")
        return RedirectResponse(f"/work/{item_id}#reviews", status_code=303)
    try:
        reviews.add_review(session=session, actor=user, item_id=item_id, action=action, comment=comment,
                           workspace=workspace)
    except (Conflict, Invalid) as exc:
        flash(request, "error", exc.message)
        return RedirectResponse(f"/work/{item_id}#reviews", status_code=303)
    done = {ReviewAction.APPROVE: "Approved.", ReviewAction.CHANGES_REQUESTED: "Changes requested.",
            ReviewAction.REQUEST: "Review requested."}[action]
    flash(request, "success", done)
    return RedirectResponse(f"/work/{item_id}#reviews", status_code=303)

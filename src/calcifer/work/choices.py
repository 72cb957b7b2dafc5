from __future__ import annotations

from enum import StrEnum


class WorkStatus(StrEnum):
    PLANNING = "planning"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        return self in (WorkStatus.PLANNING, WorkStatus.IN_PROGRESS)


class WorkAction(StrEnum):
    NEW = "new"
    CHANGE = "change"
    FIX = "fix"
    REMOVE = "remove"


OPEN_STATUSES = (WorkStatus.PLANNING.value, WorkStatus.IN_PROGRESS.value)

# The category of standard changes: pre-approved work items created, committed, documented and merged
# in one call (catalog, docs and compose discovery all make them through `work.service.run_standard_change`).
STANDARD_CATEGORY = "standard"


class MergeProblem(StrEnum):
    """Codes of the rules merge-and-complete checks; each unmet one is listed."""

    CHECKLIST_INCOMPLETE = "checklist_incomplete"
    NOTES_EMPTY = "notes_empty"
    NO_COMMITS = "no_commits"
    NO_CHANGELOG_ENTRY = "no_changelog_entry"
    UNCOMMITTED_CHANGES = "uncommitted_changes"
    MERGE_CONFLICT = "merge_conflict"
    UNRESOLVED_CONFLICTS = "unresolved_conflicts"
    NOT_OPEN = "not_open"
    WORKTREE_MISSING = "worktree_missing"
    BRANCH_MISSING = "branch_missing"


class WorkItemChange(StrEnum):
    """What happened to a work item, as the work-item event hooks (``service.WORK_ITEM_EVENT_HOOKS``) hear it."""

    CREATED = "created"
    UPDATED = "updated"
    MERGED = "merged"
    CANCELLED = "cancelled"


class WorkStatusFilter(StrEnum):
    """What the work-item lists filter by: a status, or ``open`` (planning or in progress)."""

    OPEN = "open"
    PLANNING = "planning"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    CANCELLED = "cancelled"


class ReviewAction(StrEnum):
    """What a user asks for (the API's `verdict` field)."""

    APPROVE = "approve"
    CHANGES_REQUESTED = "changes_requested"
    REQUEST = "request"


class ReviewVerdict(StrEnum):
    """What a history entry records."""

    APPROVE = "approve"
    CHANGES_REQUESTED = "changes_requested"
    REQUESTED = "requested"


class ReviewState(StrEnum):
    """A work item's review state, from the current verdicts."""

    NONE = "none"                              # nobody asked, nobody reviewed
    REQUESTED = "requested"                    # waiting: a review was requested, or approvals went stale
    APPROVED = "approved"                      # a current approval, no change requested
    CHANGES_REQUESTED = "changes_requested"    # some reviewer's latest verdict asks for changes


class ReviewProblem(StrEnum):
    """Codes of the merge rules this module adds."""

    REVIEW_REQUIRED = "review_required"
    CHANGES_REQUESTED = "changes_requested"

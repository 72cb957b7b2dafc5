"""Built-in checklist defaults for every category × action; admins override them in Settings."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from calcifer.audit import service as audit_service
from calcifer.auth.models import User
from calcifer.errors import Invalid
from calcifer.work.choices import WorkAction
from calcifer.work.models import ChecklistTemplate

_CLOSE = ["Write the notes: what changed, why, how to roll back", "Add a CHANGES.md entry"]

DEFAULTS: dict[tuple[str, str], list[str]] = {
    ("service", "new"): ["Define the purpose and owner", "Check resources (CPU, memory, disk)",
                         "Write the compose file or config", "Test it", "Deploy it",
                         "Configure monitoring", "Add it to the catalog", "Document it"],
    ("service", "change"): ["Describe the change and its risk", "Back up data and config",
                            "Apply the change", "Verify the service works", "Update the catalog entry",
                            "Update the docs"],
    ("service", "fix"): ["Describe the symptom and its cause", "Apply the fix", "Verify the fix",
                         "Check monitoring is green", "Note how to spot it next time"],
    ("service", "remove"): ["Check nothing depends on it", "Back up its data", "Stop and remove it",
                            "Remove its monitoring", "Retire it in the catalog", "Archive its docs"],
    ("platform", "new"): ["Define the purpose", "Plan capacity (CPU, memory, disk, power)",
                          "Install and harden", "Set up backups", "Configure monitoring",
                          "Add it to the catalog", "Document access and recovery"],
    ("platform", "change"): ["Describe the change and its risk", "Plan the maintenance window",
                             "Back up first", "Apply the change", "Verify hosted services",
                             "Update the catalog and docs"],
    ("platform", "fix"): ["Describe the fault", "Apply the fix", "Verify hosted services",
                          "Check monitoring is green"],
    ("platform", "remove"): ["Move or retire every hosted service", "Back up data", "Decommission",
                             "Remove monitoring", "Retire it in the catalog"],
    ("network", "new"): ["Plan addresses, VLANs and DNS names", "Configure the device",
                         "Update firewall rules", "Test reachability", "Configure monitoring",
                         "Document the topology"],
    ("network", "change"): ["Describe the change and the rollback", "Save the current config",
                            "Apply the change", "Test reachability", "Update the docs"],
    ("network", "fix"): ["Describe the fault", "Save the current config", "Apply the fix",
                         "Test reachability"],
    ("network", "remove"): ["Check nothing routes through it", "Save the config", "Remove it",
                            "Update DNS and firewall rules", "Update the docs"],
    ("integration", "new"): ["Define what connects to what", "Create credentials with least privilege",
                             "Configure both sides", "Test the flow end to end", "Document secrets' location"],
    ("integration", "change"): ["Describe the change", "Apply it on both sides", "Test the flow end to end"],
    ("integration", "fix"): ["Describe the failure", "Apply the fix", "Test the flow end to end"],
    ("integration", "remove"): ["Disable the flow", "Revoke its credentials", "Remove the config",
                                "Update the docs"],
    ("documentation", "new"): ["Write the document", "Link it from related docs and services",
                               "Have someone read it"],
    ("documentation", "change"): ["Update the document", "Check its links"],
    ("documentation", "fix"): ["Correct the document", "Check its links"],
    ("documentation", "remove"): ["Find what links to it", "Remove or redirect the links",
                                  "Remove the document"],
}
GENERIC = ["Describe the change", "Make the change", "Verify it works", "Update the docs"]


def default_items(category: str, action: str) -> list[str]:
    return list(DEFAULTS.get((category, action), GENERIC)) + list(_CLOSE)


def template_items(*, session: Session, category: str, action: str) -> list[str]:
    """The checklist a new work item of this category × action starts with."""
    row = session.scalar(select(ChecklistTemplate).where(ChecklistTemplate.category == category,
                                                         ChecklistTemplate.action == action))
    return list(row.items) if row is not None else default_items(category, action)


def all_templates(*, session: Session, categories: list[str]) -> list[tuple[str, str, list[str], bool]]:
    """(category, action, items, customised) for every pair."""
    rows = {(r.category, r.action): r for r in session.scalars(select(ChecklistTemplate))}
    out = []
    for category in categories:
        for action in WorkAction:
            row = rows.get((category, action.value))
            items = list(row.items) if row else default_items(category, action.value)
            out.append((category, action.value, items, row is not None))
    return out


def save_template(*, session: Session, actor: User, category: str, action: str, items: list[str],
                  categories: list[str]) -> list[str]:
    if category not in categories:
        raise Invalid(f"Unknown category {category!r}; choose one of {', '.join(categories)}.")
    if action not in {a.value for a in WorkAction}:
        raise Invalid(f"Unknown action {action!r}.")
    cleaned = [" ".join(item.split())[:300] for item in items if item.strip()]
    if len(cleaned) > 50:
        raise Invalid("A checklist holds at most 50 items.")
    before = template_items(session=session, category=category, action=action)
    row = session.scalar(select(ChecklistTemplate).where(ChecklistTemplate.category == category,
                                                         ChecklistTemplate.action == action))
    if row is None:
        row = ChecklistTemplate(category=category, action=action, items=cleaned)
        session.add(row)
    else:
        row.items = cleaned
    audit_service.record(session=session, actor=actor, action="checklist_template.update",
                         object_type="checklist_template", object_id=f"{category}/{action}",
                         summary=f"edited the {category}/{action} checklist template",
                         before=before, after=cleaned)
    session.commit()
    return cleaned

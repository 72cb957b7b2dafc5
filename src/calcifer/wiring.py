"""The composition root: every built-in merge rule, after-merge step, background service, check type,
search hook and event subscriber, in the order they run.

Slices declare their extension points (typed ``Protocol``s and an empty list each) and never register
themselves by being imported; this module fills those lists. Every process calls ``wire()`` before it
does work: the web app (``calcifer.app``), every CLI command (``calcifer worker``, ``backup``, ...), and
the child processes they start (monitoring's result writer receives ``wire`` through its context).

Plugins join the same lists: each ``calcifer.plugins`` entry point names a function that receives the
``Wiring`` being built (built-ins already in it) and may append to, or reorder, any of its lists.
Check types are the one exception: they are the ``calcifer.checks`` entry points (built-in ones are
declared in pyproject.toml exactly like a plugin's), because the catalog validates endpoint files in
processes that run nothing else; ``wire()`` loads them at start.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from calcifer import background
from calcifer.backup import scheduler as backup_scheduler
from calcifer.backup import service as backup_service
from calcifer.catalog import index_sync as catalog_index_sync
from calcifer.catalog import service as catalog_service
from calcifer.config import Settings
from calcifer.docs import doc_templates, worklog
from calcifer.docs import index_sync as docs_index
from calcifer.inbox import consumer as inbox_consumer
from calcifer.instance import AppContext
from calcifer.instance import prepare as prepare_instance
from calcifer.monitoring import checks, incidents, maintenance, probes, runner
from calcifer.monitoring import hooks as monitoring_hooks
from calcifer.notify import service as notify_service
from calcifer.outbox import service as outbox
from calcifer.remote import rules as remote_rules
from calcifer.remote import service as remote_service
from calcifer.remote import sync as remote_sync
from calcifer.search import index_sync as search_index
from calcifer.webhooks import deliverer as webhook_deliverer
from calcifer.work import reviews
from calcifer.work import service as work_service

log = logging.getLogger("calcifer")

PLUGIN_GROUP = "calcifer.plugins"

# -- work items ---------------------------------------------------------------------------------------

# Rules merge-and-complete checks besides its own (every unmet one is listed at once).
MERGE_RULES: tuple[work_service.MergeRule, ...] = (
    catalog_service.catalog_merge_problems,  # the branch's catalog files load as main's index reads them
    docs_index.front_matter_problems,        # every doc it adds or changes has front matter that reads
    reviews.review_problems,                 # an approving review, when the preference asks for one
)
# Files written into the merge commit itself.
MERGE_EXTRA_FILES: tuple[work_service.MergeExtraFiles, ...] = (
    worklog.work_log_files,                  # docs/work-log/: what the work item did
)
# After a merge moved main, in this order; each step receives what changed (``events.MainMoved``).
AFTER_MERGE_STEPS: tuple[work_service.AfterMergeStep, ...] = (
    catalog_service.sync_after_merge,        # the catalog index; hands its changed rows on
    docs_index.sync_after_merge,             # docs index and links (needs the catalog's services)
    search_index.refresh_after_merge,        # search rows of docs, CHANGES.md and the changed catalog rows
    outbox.record_doc_changes,               # doc.changed events (commits its own transaction)
    remote_service.push_after_merge,         # asks the remote sync to push (a flag: never waits on the network)
)
# After a work item was created, edited, committed to, merged or cancelled.
WORK_ITEM_CHANGED: tuple[work_service.WorkItemChangedHook, ...] = (
    search_index.index_work_item,            # its search row
    maintenance.work_item_changed,           # its maintenance window opens/closes with it
)
# Inside the transaction of a work item's change (created, updated, merged, cancelled), before it commits.
WORK_ITEM_EVENT_HOOKS: tuple[work_service.WorkItemEventHook, ...] = (
    outbox.record_work_item,                 # work_item.* events in the domain-event outbox
)
# Inside the transaction of a review (request, approval, change request), before it commits.
REVIEW_EVENT_HOOKS: tuple[reviews.ReviewEventHook, ...] = (
    outbox.record_review,                    # work_item.reviewed events
)
# Files of a NEW managed repository's first commit.
INITIAL_FILES: tuple[work_service.InitialFiles, ...] = (
    doc_templates.default_template_files,    # docs/_templates/
)

# -- catalog ------------------------------------------------------------------------------------------

# A service or endpoint added through a work item: more files for the same commit.
CATALOG_ADDED: tuple[catalog_service.AddedHook, ...] = (
    doc_templates.generate_catalog_doc,      # its doc page from the template for its kind
)

# An incremental catalog sync changed rows: called in its transaction, before it commits.
CATALOG_CHANGED_HOOKS: tuple[catalog_index_sync.CatalogChangedHook, ...] = (
    outbox.record_catalog_changes,           # service.* / endpoint.* added, changed, removed
)

# -- monitoring: event subscribers and providers --------------------------------------------------------

# Subscribers of ``events.EndpointStatusChanged``, in the result writer's transaction.
STATUS_CHANGE_SUBSCRIBERS: tuple[monitoring_hooks.StatusChangeHook, ...] = (
    incidents.record_incidents,              # open/close incidents
    notify_service.queue_status_notifications,  # the notification outbox
    outbox.record_status_changes,            # endpoint.status_changed events
)
# Incidents opened or resolved, in the same transaction.
INCIDENT_HOOKS: tuple[monitoring_hooks.IncidentHook, ...] = (
    outbox.record_incidents,                 # incident.opened / incident.resolved events
)
MAINTENANCE_PROVIDERS: tuple[monitoring_hooks.MaintenanceProvider, ...] = (
    maintenance.slugs_in_maintenance,        # maintenance windows (by hand or a work item's)
)

# -- remote sync ----------------------------------------------------------------------------------------

# Validation outside commits must pass before they are integrated into main (the merge check's, by commit).
INTEGRATION_RULES: tuple[remote_service.IntegrationRule, ...] = (
    remote_rules.catalog_problems,           # catalog files load as main's index reads them
    remote_rules.docs_problems,              # docs' front matter reads
)

# -- backups --------------------------------------------------------------------------------------------

# A recorded backup run ended, in the transaction that records it.
BACKUP_FINISHED_HOOKS: tuple[backup_service.FinishedHook, ...] = (
    outbox.record_backup,                    # backup.finished / backup.failed events
)

# -- background services (started in this order by the web app's lifespan, stopped in reverse) -------

BACKGROUND_SERVICES: tuple[tuple[str, background.Start], ...] = (
    ("monitoring-scheduler", runner.start),  # off with CALCIFER_MONITOR_IN_WEB=false (`calcifer worker`)
    ("probe-watch", probes.start_watch),     # remote probes not heard from: offline (one event each)
    ("backups", backup_scheduler.start),
    ("notifier", notify_service.start_in_web),
    ("webhooks", webhook_deliverer.start),  # the outbox's events to webhooks (in every web process)
    ("remote-sync", remote_sync.start),      # push after merges (backoff), scheduled fetch
    ("inbox", inbox_consumer.start),         # the outbox's events to each person: in-app, e-mail, apprise
)


@dataclass
class Wiring:
    """The lists one process runs: the built-ins above, then what plugins added."""

    merge_rules: list[work_service.MergeRule] = field(default_factory=lambda: list(MERGE_RULES))
    merge_extra_files: list[work_service.MergeExtraFiles] = field(
        default_factory=lambda: list(MERGE_EXTRA_FILES))
    after_merge_steps: list[work_service.AfterMergeStep] = field(default_factory=lambda: list(AFTER_MERGE_STEPS))
    work_item_changed: list[work_service.WorkItemChangedHook] = field(
        default_factory=lambda: list(WORK_ITEM_CHANGED))
    work_item_events: list[work_service.WorkItemEventHook] = field(
        default_factory=lambda: list(WORK_ITEM_EVENT_HOOKS))
    review_events: list[reviews.ReviewEventHook] = field(default_factory=lambda: list(REVIEW_EVENT_HOOKS))
    initial_files: list[work_service.InitialFiles] = field(default_factory=lambda: list(INITIAL_FILES))
    catalog_added: list[catalog_service.AddedHook] = field(default_factory=lambda: list(CATALOG_ADDED))
    catalog_changed: list[catalog_index_sync.CatalogChangedHook] = field(
        default_factory=lambda: list(CATALOG_CHANGED_HOOKS))
    incident_subscribers: list[monitoring_hooks.IncidentHook] = field(default_factory=lambda: list(INCIDENT_HOOKS))
    backup_finished: list[backup_service.FinishedHook] = field(default_factory=lambda: list(BACKUP_FINISHED_HOOKS))
    status_change_subscribers: list[monitoring_hooks.StatusChangeHook] = field(
        default_factory=lambda: list(STATUS_CHANGE_SUBSCRIBERS))
    maintenance_providers: list[monitoring_hooks.MaintenanceProvider] = field(
        default_factory=lambda: list(MAINTENANCE_PROVIDERS))
    integration_rules: list[remote_service.IntegrationRule] = field(
        default_factory=lambda: list(INTEGRATION_RULES))
    background_services: dict[str, background.Start] = field(default_factory=lambda: dict(BACKGROUND_SERVICES))


Plugin = Callable[[Wiring], None]


def build() -> Wiring:
    """The built-in lists, then each ``calcifer.plugins`` entry point applied in name order. A plugin
    that fails to load or raises is logged and left out; the built-ins still run."""
    wiring = Wiring()
    for point in sorted(entry_points(group=PLUGIN_GROUP), key=lambda p: p.name):
        try:
            plugin: Plugin = point.load()
            plugin(wiring)
        except Exception:  # a broken plugin must not take Calcifer down
            log.exception("plugin %s could not be wired", point.value)
    return wiring


def install(wiring: Wiring) -> None:
    """Make ``wiring`` what this process runs: each slice's list gets its entries, in order."""
    work_service.MERGE_RULES[:] = wiring.merge_rules
    work_service.MERGE_EXTRA_FILES[:] = wiring.merge_extra_files
    work_service.AFTER_MERGE_STEPS[:] = wiring.after_merge_steps
    work_service.WORK_ITEM_CHANGED_HOOKS[:] = wiring.work_item_changed
    work_service.WORK_ITEM_EVENT_HOOKS[:] = wiring.work_item_events
    reviews.REVIEW_EVENT_HOOKS[:] = wiring.review_events
    work_service.INITIAL_FILE_PROVIDERS[:] = wiring.initial_files
    catalog_index_sync.CATALOG_CHANGED_HOOKS[:] = wiring.catalog_changed
    monitoring_hooks.INCIDENT_HOOKS[:] = wiring.incident_subscribers
    backup_service.FINISHED_HOOKS[:] = wiring.backup_finished
    catalog_service.ADDED_HOOKS[:] = wiring.catalog_added
    monitoring_hooks.STATUS_CHANGE_HOOKS[:] = wiring.status_change_subscribers
    monitoring_hooks.MAINTENANCE_PROVIDERS[:] = wiring.maintenance_providers
    remote_service.INTEGRATION_RULES[:] = wiring.integration_rules
    background.SERVICES.clear()
    background.SERVICES.update(wiring.background_services)
    checks.load()


_wired = False
_wiring_lock = threading.Lock()


def wire() -> None:
    """Wire this process (once; later calls do nothing, so a test's changes to a list stay)."""
    global _wired
    with _wiring_lock:
        if not _wired:
            install(build())
            _wired = True


def prepare(settings: Settings, *, reconcile: bool = True) -> AppContext:
    """Wire this process, then prepare the instance (``instance.prepare``); child processes it starts
    wire themselves the same way."""
    wire()
    return prepare_instance(settings, reconcile=reconcile, wire=wire)

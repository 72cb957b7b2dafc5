"""The composition root: every built-in merge rule, after-merge step, background service, check type,
search hook and event subscriber, in the order they run.

Slices declare their extension points (typed ``Protocol``s and an empty list each) and never register
themselves by being imported; this module fills those lists. Every process calls ``wire()`` before it
does work: the web app (``calcifer.app``), every CLI command (``calcifer worker``, ``backup``, ...), and
the child processes they start (monitoring's result writer receives ``wire`` through its context).

Plugins join the same lists: each ``calcifer.plugins`` entry point names a function that receives the
``Wiring`` being built (built-ins already in it) and may append to, or reorder, any of its lists. The
documented plugin interface (docs/plugins.md) is its ``add_*`` methods: channel types, event
subscribers, page panels and CLI commands, each stamped with the plugin's distribution name so that
Settings → Integrations can switch it off (the built-in apprise channel type registers the same way).
Check types are the one exception: they are the ``calcifer.checks`` entry points (built-in ones are
declared in pyproject.toml exactly like a plugin's), because the catalog validates endpoint files in
processes that run nothing else; ``wire()`` loads them at start.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from importlib.metadata import Distribution, entry_points

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
from calcifer.notify import apprise_channel
from calcifer.notify import channels as notify_channels
from calcifer.notify import service as notify_service
from calcifer.outbox import service as outbox
from calcifer.plugins import events as plugin_events
from calcifer.plugins import registry as plugins
from calcifer.plugins import service as plugin_service
from calcifer.plugins.choices import PanelPage
from calcifer.pulls import service as pulls_service
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
# The merge commit resolving an update from main's conflicts, before it goes on the branch (the merge check's
# validation, by commit, as for outside commits).
RESOLUTION_RULES: tuple[work_service.ResolutionRule, ...] = (
    remote_rules.catalog_problems,           # catalog files load as main's index reads them
    remote_rules.docs_problems,              # docs' front matter reads
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
# A remote probe went offline or came back, in the transaction that records it.
PROBE_HOOKS: tuple[monitoring_hooks.ProbeHook, ...] = (
    outbox.record_probe_changes,             # probe.offline / probe.online events
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
# Commits a fetch brings that Calcifer caused itself: not recorded as outside changes.
OWN_COMMITS: tuple[remote_service.OwnCommits, ...] = (
    pulls_service.own_commits,               # the forge's merge commits of work items' pull requests
)
# After each fetch that read the remote's main, in this order.
AFTER_FETCH: tuple[remote_service.AfterFetch, ...] = (
    pulls_service.complete_merged,           # work items whose pull requests the forge merged are completed
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
    ("plugin-events", plugin_events.start),  # the outbox's events to plugins' event subscribers
    ("inbox", inbox_consumer.start),         # the outbox's events to each person: in-app, e-mail, apprise
)

# -- the plugin interface's built-ins --------------------------------------------------------------------

# Notification channel types, picked by URL scheme; apprise takes every URL no other type claims.
CHANNEL_TYPES: tuple[notify_channels.ChannelType, ...] = (
    apprise_channel.AppriseChannel(),
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
    resolution_rules: list[work_service.ResolutionRule] = field(default_factory=lambda: list(RESOLUTION_RULES))
    catalog_added: list[catalog_service.AddedHook] = field(default_factory=lambda: list(CATALOG_ADDED))
    catalog_changed: list[catalog_index_sync.CatalogChangedHook] = field(
        default_factory=lambda: list(CATALOG_CHANGED_HOOKS))
    incident_subscribers: list[monitoring_hooks.IncidentHook] = field(default_factory=lambda: list(INCIDENT_HOOKS))
    probe_subscribers: list[monitoring_hooks.ProbeHook] = field(default_factory=lambda: list(PROBE_HOOKS))
    backup_finished: list[backup_service.FinishedHook] = field(default_factory=lambda: list(BACKUP_FINISHED_HOOKS))
    status_change_subscribers: list[monitoring_hooks.StatusChangeHook] = field(
        default_factory=lambda: list(STATUS_CHANGE_SUBSCRIBERS))
    maintenance_providers: list[monitoring_hooks.MaintenanceProvider] = field(
        default_factory=lambda: list(MAINTENANCE_PROVIDERS))
    integration_rules: list[remote_service.IntegrationRule] = field(
        default_factory=lambda: list(INTEGRATION_RULES))
    own_commits: list[remote_service.OwnCommits] = field(default_factory=lambda: list(OWN_COMMITS))
    after_fetch: list[remote_service.AfterFetch] = field(default_factory=lambda: list(AFTER_FETCH))
    background_services: dict[str, background.Start] = field(default_factory=lambda: dict(BACKGROUND_SERVICES))
    channel_types: list[notify_channels.RegisteredChannelType] = field(default_factory=lambda: [
        notify_channels.RegisteredChannelType(plugins.BUILTIN, channel) for channel in CHANNEL_TYPES])
    event_subscribers: list[plugins.Subscriber] = field(default_factory=list)
    panels: list[plugins.Panel] = field(default_factory=list)
    commands: list[plugins.Command] = field(default_factory=list)
    installed_plugins: list[plugins.PluginInfo] = field(default_factory=list)
    # The distribution whose plugin function is running (what the add_* methods stamp).
    current_plugin: str = plugins.BUILTIN

    # -- the plugin interface (docs/plugins.md) --

    def add_channel_type(self, channel: notify_channels.ChannelType) -> None:
        """A notification channel type for the URLs with one of ``channel.schemes``."""
        self.channel_types.append(notify_channels.RegisteredChannelType(self.current_plugin, channel))

    def add_event_subscriber(self, name: str, handle: plugins.EventHandler, *, events: tuple[str, ...] = ()) -> None:
        """Called with each domain event named in ``events`` (every one when empty), after it committed."""
        self.event_subscribers.append(plugins.Subscriber(self.current_plugin, name, handle, tuple(events)))

    def add_panel(self, *, page: str, name: str, title: str, template: str, data: plugins.PanelData) -> None:
        """A card on every ``page`` ("service", "endpoint", "work_item"): ``template`` (Jinja source)
        rendered with what ``data(session=..., subject=...)`` returns."""
        if page not in set(PanelPage):
            raise ValueError(f"panel {name!r}: page must be one of {', '.join(PanelPage)}")
        self.panels.append(plugins.Panel(self.current_plugin, page, name, title, template, data))

    def add_command(self, name: str, callback: Callable[..., object], *, help: str = "") -> None:
        """A ``calcifer <name>`` command (a typer command function)."""
        self.commands.append(plugins.Command(self.current_plugin, name, callback, help))


Plugin = Callable[[Wiring], None]


def _distribution_name(dist: Distribution | None) -> str:
    return dist.name if dist is not None else plugins.BUILTIN


def _plugin_info(infos: dict[str, plugins.PluginInfo], dist: Distribution | None) -> plugins.PluginInfo:
    name = _distribution_name(dist)
    if name not in infos:
        infos[name] = plugins.PluginInfo(name=name, version=dist.version if dist is not None else "")
    return infos[name]


def _describe(wiring: Wiring, infos: dict[str, plugins.PluginInfo]) -> list[plugins.PluginInfo]:
    """What each distribution provides, from its check-type entry points and what it registered."""
    for point in sorted(entry_points(group=checks.ENTRY_POINT_GROUP), key=lambda p: p.name):
        _plugin_info(infos, point.dist).provides.append(f"check type {point.name}")
    for entry in wiring.channel_types:
        infos.setdefault(entry.plugin, plugins.PluginInfo(entry.plugin, "")).provides.append(
            f"channel type {entry.channel.kind}")
    for sub in wiring.event_subscribers:
        what = ", ".join(sub.events) or "every event"
        infos.setdefault(sub.plugin, plugins.PluginInfo(sub.plugin, "")).provides.append(
            f"event subscriber {sub.name} ({what})")
    for panel in wiring.panels:
        infos.setdefault(panel.plugin, plugins.PluginInfo(panel.plugin, "")).provides.append(
            f"panel on {panel.page} pages: {panel.title}")
    for command in wiring.commands:
        infos.setdefault(command.plugin, plugins.PluginInfo(command.plugin, "")).provides.append(
            f"command calcifer {command.name}")
    if plugins.BUILTIN in infos and not infos[plugins.BUILTIN].version:
        from calcifer import __version__
        infos[plugins.BUILTIN].version = __version__
    return list(infos.values())


def build() -> Wiring:
    """The built-in lists, then each ``calcifer.plugins`` entry point applied in name order. A plugin
    that fails to load or raises is logged (and its error listed under Settings → Integrations) and
    left out; the built-ins still run."""
    wiring = Wiring()
    infos: dict[str, plugins.PluginInfo] = {}
    _plugin_info(infos, None)
    for point in sorted(entry_points(group=PLUGIN_GROUP), key=lambda p: p.name):
        info = _plugin_info(infos, point.dist)
        wiring.current_plugin = info.name
        before = {f.name: copy.copy(getattr(wiring, f.name)) for f in fields(wiring)}
        try:
            plugin: Plugin = point.load()
            plugin(wiring)
        except Exception as exc:  # a broken plugin must not take Calcifer down
            log.exception("plugin %s could not be wired", point.value)
            info.errors.append(f"{point.name}: {type(exc).__name__}: {exc}"[:300])
            for name, value in before.items():  # nothing it added before it failed stays
                setattr(wiring, name, value)
        finally:
            wiring.current_plugin = plugins.BUILTIN
    wiring.installed_plugins = _describe(wiring, infos)
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
    work_service.RESOLUTION_RULES[:] = wiring.resolution_rules
    catalog_index_sync.CATALOG_CHANGED_HOOKS[:] = wiring.catalog_changed
    monitoring_hooks.INCIDENT_HOOKS[:] = wiring.incident_subscribers
    monitoring_hooks.PROBE_HOOKS[:] = wiring.probe_subscribers
    backup_service.FINISHED_HOOKS[:] = wiring.backup_finished
    catalog_service.ADDED_HOOKS[:] = wiring.catalog_added
    monitoring_hooks.STATUS_CHANGE_HOOKS[:] = wiring.status_change_subscribers
    monitoring_hooks.MAINTENANCE_PROVIDERS[:] = wiring.maintenance_providers
    remote_service.INTEGRATION_RULES[:] = wiring.integration_rules
    remote_service.OWN_COMMITS[:] = wiring.own_commits
    remote_service.AFTER_FETCH[:] = wiring.after_fetch
    background.SERVICES.clear()
    background.SERVICES.update(wiring.background_services)
    notify_channels.CHANNEL_TYPES[:] = wiring.channel_types
    plugins.SUBSCRIBERS[:] = wiring.event_subscribers
    plugins.PANELS[:] = wiring.panels
    plugins.COMMANDS[:] = wiring.commands
    plugins.INSTALLED[:] = wiring.installed_plugins
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
    ctx = prepare_instance(settings, reconcile=reconcile, wire=wire)
    plugin_service.refresh_from(ctx.session_factory)  # the plugins admins switched off
    return ctx
